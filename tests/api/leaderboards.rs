//! Leaderboards: ranks with ties, periods in the organisation's time zone, reversals,
//! deactivated members, team boards, around-me windows, and refusals.

use diesel_async::RunQueryDsl;
use frontline::auth::Role;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::*;

/// Write a ledger entry as the domain would, at a chosen time (the boards' trigger folds it in).
async fn entry(
    app: &TestApp,
    org: Uuid,
    member: Uuid,
    points: i32,
    at: &str,
    dimension: Option<&str>,
) {
    let mut conn = app.db.conn().await;
    diesel::sql_query(
        "INSERT INTO ledger_entries (organisation_id, member_id, team_id, points, reason, created_at, dimension) \
         SELECT $1, $2, team_id, $3, 'badge', $4::timestamptz, $5 FROM members WHERE id = $2",
    )
    .bind::<diesel::sql_types::Uuid, _>(org)
    .bind::<diesel::sql_types::Uuid, _>(member)
    .bind::<diesel::sql_types::Integer, _>(points)
    .bind::<diesel::sql_types::Text, _>(at)
    .bind::<diesel::sql_types::Nullable<diesel::sql_types::Text>, _>(dimension)
    .execute(&mut conn)
    .await
    .unwrap();
}

async fn grant(app: &TestApp, org: &Org, member: Uuid, points: i32) -> Value {
    app.post(
        "/api/v1/ledger/adjustments",
        &org.admin.token,
        json!({ "member_id": member, "points": points, "reason": "test" }),
    )
    .await
    .ok()
    .clone()
}

fn ranks(board: &Value, list: &str) -> Vec<(String, i64, i64)> {
    board[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["display_name"]
                    .as_str()
                    .or(s["name"].as_str())
                    .unwrap()
                    .to_string(),
                s["rank"].as_i64().unwrap(),
                s["points"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[rocket::async_test]
async fn ties_share_a_rank_and_the_first_to_get_there_is_shown_first() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let mut people = Vec::new();
    for name in ["Ana", "Ben", "Cy", "Di", "Eve"] {
        people.push(app.member(&org, name, Role::Employee, None).await);
    }
    // Cy reaches 40 before Ben does; Di and Eve have nothing.
    grant(&app, &org, people[0].id, 50).await;
    grant(&app, &org, people[2].id, 40).await;
    grant(&app, &org, people[1].id, 40).await;
    grant(&app, &org, people[3].id, 30).await;
    let r = app
        .get("/api/v1/leaderboards/members?period=all", &people[4].token)
        .await;
    let board = r.ok();
    assert_eq!(
        ranks(board, "top"),
        vec![
            ("Ana".into(), 1, 50),
            ("Cy".into(), 2, 40),
            ("Ben".into(), 2, 40),
            ("Di".into(), 4, 30),
        ]
    );
    assert_eq!(board["ranked_members"], 4);
    // Eve is outside the board but still told where she stands.
    assert_eq!(board["me"]["points"], 0);
    assert_eq!(board["me"]["rank"], 5);
    assert_eq!(board["me"]["member_id"], people[4].id.to_string());

    // Ben asks: he shares rank 2 and sees his neighbours.
    let r = app
        .get(
            "/api/v1/leaderboards/members?period=all&limit=1&around_me=1",
            &people[1].token,
        )
        .await;
    let board = r.ok();
    assert_eq!(ranks(board, "top"), vec![("Ana".into(), 1, 50)]);
    assert_eq!(board["me"]["rank"], 2);
    assert_eq!(
        ranks(board, "around_me"),
        vec![
            ("Cy".into(), 2, 40),
            ("Ben".into(), 2, 40),
            ("Di".into(), 4, 30)
        ]
    );
}

#[rocket::async_test]
async fn a_point_at_half_past_eleven_local_on_the_last_day_lands_in_that_month() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await; // Europe/Oslo: UTC+1 in November.
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    // 23:30 in Oslo on 30 November = 22:30 UTC: November.
    entry(&app, org.id, ana.id, 10, "2026-11-30T22:30:00Z", None).await;
    // 00:30 in Oslo on 1 December = 23:30 UTC on 30 November: December.
    entry(&app, org.id, ben.id, 20, "2026-11-30T23:30:00Z", None).await;
    let nov = app
        .get("/api/v1/leaderboards/members?period=2026-11", &ana.token)
        .await;
    assert_eq!(ranks(nov.ok(), "top"), vec![("Ana".into(), 1, 10)]);
    assert_eq!(nov.body["period"]["start"], "2026-11-01");
    assert_eq!(nov.body["period"]["end"], "2026-12-01");
    let dec = app
        .get("/api/v1/leaderboards/members?period=2026-12", &ana.token)
        .await;
    assert_eq!(ranks(dec.ok(), "top"), vec![("Ben".into(), 1, 20)]);
    // Weeks start on Monday in local time: Monday 30 November 2026 is week 49.
    let w49 = app
        .get("/api/v1/leaderboards/members?period=2026-W49", &ana.token)
        .await;
    assert_eq!(ranks(w49.ok(), "top").len(), 2);
    let w48 = app
        .get("/api/v1/leaderboards/members?period=2026-W48", &ana.token)
        .await;
    assert!(ranks(w48.ok(), "top").is_empty());
    // Quarters and years: both entries are Q4 2026 locally.
    let q = app
        .get("/api/v1/leaderboards/members?period=2026-Q4", &ana.token)
        .await;
    assert_eq!(ranks(q.ok(), "top").len(), 2);
    let y = app
        .get("/api/v1/leaderboards/members?period=2026", &ana.token)
        .await;
    assert_eq!(ranks(y.ok(), "top").len(), 2);
}

#[rocket::async_test]
async fn a_change_of_time_zone_moves_points_between_periods() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    entry(&app, org.id, ana.id, 10, "2026-11-30T23:30:00Z", None).await;
    let dec = app
        .get("/api/v1/leaderboards/members?period=2026-12", &ana.token)
        .await;
    assert_eq!(ranks(dec.ok(), "top").len(), 1);
    app.patch(
        "/api/v1/organisation",
        &org.admin.token,
        json!({ "time_zone": "America/New_York" }),
    )
    .await
    .ok();
    let nov = app
        .get("/api/v1/leaderboards/members?period=2026-11", &ana.token)
        .await;
    assert_eq!(ranks(nov.ok(), "top"), vec![("Ana".into(), 1, 10)]);
}

#[rocket::async_test]
async fn points_are_on_the_board_as_soon_as_the_request_answers_and_reversals_take_them_off() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    app.post(
        "/api/v1/recognitions",
        &ben.token,
        json!({ "recipients": [ana.id], "message": "thanks", "points": 30, "dimension": "empathy" }),
    )
    .await
    .ok();
    for period in ["week", "month", "quarter", "year", "all"] {
        let r = app
            .get(
                &format!("/api/v1/leaderboards/members?period={period}"),
                &ben.token,
            )
            .await;
        assert_eq!(
            ranks(r.ok(), "top"),
            vec![("Ana".into(), 1, 30)],
            "{period}"
        );
    }
    let empathy = app
        .get("/api/v1/leaderboards/members?dimension=empathy", &ben.token)
        .await;
    assert_eq!(ranks(empathy.ok(), "top"), vec![("Ana".into(), 1, 30)]);
    let trust = app
        .get("/api/v1/leaderboards/members?dimension=trust", &ben.token)
        .await;
    assert!(ranks(trust.ok(), "top").is_empty());

    let entry = app.get("/api/v1/me/points", &ana.token).await.ok()["entries"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post(
        &format!("/api/v1/ledger/{entry}/reverse"),
        &org.admin.token,
        json!({ "reason": "mistake" }),
    )
    .await
    .ok();
    grant(&app, &org, ben.id, 5).await;
    let r = app.get("/api/v1/leaderboards/members", &ben.token).await;
    assert_eq!(
        ranks(r.ok(), "top"),
        vec![("Ben".into(), 1, 5), ("Ana".into(), 2, 0)]
    );
    let r = app
        .get("/api/v1/leaderboards/members?dimension=empathy", &ben.token)
        .await;
    assert_eq!(ranks(r.ok(), "top"), vec![("Ana".into(), 1, 0)]);
}

#[rocket::async_test]
async fn deactivated_members_leave_the_board_but_their_points_count_for_their_team() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let care = app.team(&org, "Care").await;
    let store = app.team(&org, "Store").await;
    let ana = app.member(&org, "Ana", Role::Employee, Some(care)).await;
    let ben = app.member(&org, "Ben", Role::Employee, Some(care)).await;
    let cy = app.member(&org, "Cy", Role::Employee, Some(store)).await;
    grant(&app, &org, ana.id, 50).await;
    grant(&app, &org, ben.id, 10).await;
    grant(&app, &org, cy.id, 40).await;
    app.post_empty(
        &format!("/api/v1/members/{}/deactivate", ana.id),
        &org.admin.token,
    )
    .await
    .ok();
    let r = app.get("/api/v1/leaderboards/members", &cy.token).await;
    assert_eq!(
        ranks(r.ok(), "top"),
        vec![("Cy".into(), 1, 40), ("Ben".into(), 2, 10)]
    );
    assert_eq!(r.body["ranked_members"], 2);
    let r = app.get("/api/v1/leaderboards/teams", &cy.token).await;
    assert_eq!(
        ranks(r.ok(), "top"),
        vec![("Care".into(), 1, 60), ("Store".into(), 2, 40)]
    );
    assert_eq!(r.body["my_team"]["name"], "Store");
    assert_eq!(r.body["my_team"]["rank"], 2);
    // Per active member: Care has one active member left (60), Store one (40).
    let r = app
        .get("/api/v1/leaderboards/teams?metric=per_member", &cy.token)
        .await;
    let top = r.ok()["top"].as_array().unwrap().clone();
    assert_eq!(top[0]["name"], "Care");
    assert_eq!(top[0]["active_members"], 1);
    assert_eq!(top[0]["points_per_member"], 60.0);
    // Reactivated, Ana is back where she was (on Cy's cached board once the lag has passed).
    app.post_empty(
        &format!("/api/v1/members/{}/reactivate", ana.id),
        &org.admin.token,
    )
    .await
    .ok();
    app.let_boards_catch_up();
    let r = app.get("/api/v1/leaderboards/members", &cy.token).await;
    assert_eq!(ranks(r.ok(), "top")[0], ("Ana".into(), 1, 50));
}

#[rocket::async_test]
async fn team_points_stay_with_the_team_they_were_earned_in() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let care = app.team(&org, "Care").await;
    let store = app.team(&org, "Store").await;
    let ana = app.member(&org, "Ana", Role::Employee, Some(care)).await;
    grant(&app, &org, ana.id, 30).await;
    app.post(
        &format!("/api/v1/members/{}/move", ana.id),
        &org.admin.token,
        json!({ "team_id": store }),
    )
    .await
    .ok();
    grant(&app, &org, ana.id, 5).await;
    let r = app.get("/api/v1/leaderboards/teams", &ana.token).await;
    assert_eq!(
        ranks(r.ok(), "top"),
        vec![("Care".into(), 1, 30), ("Store".into(), 2, 5)]
    );
    // The member board of a team lists its current members with all their points.
    let r = app
        .get("/api/v1/leaderboards/members?scope=team", &ana.token)
        .await;
    assert_eq!(ranks(r.ok(), "top"), vec![("Ana".into(), 1, 35)]);
    assert_eq!(r.body["team_id"], store.to_string());
    let r = app
        .get(
            &format!("/api/v1/leaderboards/members?scope=team&team_id={care}"),
            &ana.token,
        )
        .await;
    assert!(ranks(r.ok(), "top").is_empty());
}

#[rocket::async_test]
async fn team_scope_ranks_within_the_team_and_around_me_windows_work() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let care = app.team(&org, "Care").await;
    let store = app.team(&org, "Store").await;
    let mut care_people = Vec::new();
    for (i, name) in ["A1", "A2", "A3", "A4", "A5", "A6"].iter().enumerate() {
        let m = app.member(&org, name, Role::Employee, Some(care)).await;
        grant(&app, &org, m.id, 100 - 10 * i as i32).await;
        care_people.push(m);
    }
    let outsider = app.member(&org, "Big", Role::Employee, Some(store)).await;
    grant(&app, &org, outsider.id, 1000).await;
    let me = &care_people[3]; // 70 points: 4th in Care, 5th overall.
    let r = app
        .get(
            "/api/v1/leaderboards/members?scope=team&limit=2&around_me=2",
            &me.token,
        )
        .await;
    let board = r.ok();
    assert_eq!(
        ranks(board, "top"),
        vec![("A1".into(), 1, 100), ("A2".into(), 2, 90)]
    );
    assert_eq!(board["me"]["rank"], 4);
    assert_eq!(
        ranks(board, "around_me"),
        vec![
            ("A2".into(), 2, 90),
            ("A3".into(), 3, 80),
            ("A4".into(), 4, 70),
            ("A5".into(), 5, 60),
            ("A6".into(), 6, 50),
        ]
    );
    let r = app
        .get(
            "/api/v1/leaderboards/members?around_me=1&limit=1",
            &me.token,
        )
        .await;
    let board = r.ok();
    assert_eq!(board["me"]["rank"], 5);
    assert_eq!(
        ranks(board, "around_me"),
        vec![
            ("A3".into(), 4, 80),
            ("A4".into(), 5, 70),
            ("A5".into(), 6, 60)
        ]
    );
    // The teams board's window around the caller's team.
    let r = app
        .get("/api/v1/leaderboards/teams?around_me=1", &me.token)
        .await;
    assert_eq!(r.ok()["my_team"]["name"], "Care");
    assert_eq!(r.body["around_my_team"].as_array().unwrap().len(), 2);
}

#[rocket::async_test]
async fn boards_refuse_bad_parameters_and_other_organisations_teams() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let other = app.seed_org("other").await;
    let foreign_team = app.team(&other, "Theirs").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    for (query, field) in [
        ("period=fortnight", "period"),
        ("period=2026-13", "period"),
        ("dimension=speed", "dimension"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("around_me=51", "around_me"),
        ("scope=galaxy", "scope"),
        ("scope=team&team_id=x", "team_id"),
    ] {
        app.get(&format!("/api/v1/leaderboards/members?{query}"), &ana.token)
            .await
            .invalid_field(field);
    }
    // Ana has no team: a team board needs one named.
    app.get("/api/v1/leaderboards/members?scope=team", &ana.token)
        .await
        .invalid_field("team_id");
    app.get(
        &format!("/api/v1/leaderboards/members?scope=team&team_id={foreign_team}"),
        &ana.token,
    )
    .await
    .problem(404);
    app.get("/api/v1/leaderboards/teams?metric=mean", &ana.token)
        .await
        .invalid_field("metric");
    app.get("/api/v1/leaderboards/teams?scope=team", &ana.token)
        .await
        .invalid_field("scope");
    app.request(
        rocket::http::Method::Get,
        "/api/v1/leaderboards/members",
        None,
        None,
    )
    .await
    .problem(401);
    // Another organisation's points never show.
    let theirs = app
        .member(&other, "Zed", Role::Employee, Some(foreign_team))
        .await;
    grant(&app, &other, theirs.id, 99).await;
    let r = app.get("/api/v1/leaderboards/members", &ana.token).await;
    assert!(ranks(r.ok(), "top").is_empty());
    let r = app.get("/api/v1/leaderboards/teams", &ana.token).await;
    assert!(ranks(r.ok(), "top").is_empty());
}

#[derive(diesel::QueryableByName, Debug, PartialEq)]
struct Snapshot {
    #[diesel(sql_type = diesel::sql_types::Text)]
    rows: String,
}

async fn snapshot(app: &TestApp) -> (String, String, String) {
    let mut conn = app.db.conn().await;
    let mut take = async |sql: &str| {
        diesel::sql_query(sql)
            .get_result::<Snapshot>(&mut conn)
            .await
            .unwrap()
            .rows
    };
    let members = take(
        "SELECT COALESCE(string_agg(concat_ws(',', period, period_start, dimension, member_id, points, team_id, listed), ';' \
         ORDER BY period, period_start, dimension, member_id), '') AS rows FROM member_period_points",
    )
    .await;
    let histogram = take(
        "SELECT COALESCE(string_agg(concat_ws(',', period, period_start, dimension, points, members), ';' \
         ORDER BY period, period_start, dimension, points), '') AS rows \
         FROM (SELECT period, period_start, dimension, points, sum(members) AS members \
               FROM (SELECT period, period_start, dimension, points, members FROM member_points_histogram \
                     UNION ALL SELECT period, period_start, dimension, points, members FROM member_points_histogram_pending) h \
               GROUP BY 1, 2, 3, 4) h WHERE members <> 0",
    )
    .await;
    let teams = take(
        "SELECT COALESCE(string_agg(concat_ws(',', period, period_start, dimension, team_id, points), ';' \
         ORDER BY period, period_start, dimension, team_id), '') AS rows \
         FROM (SELECT period, period_start, dimension, team_id, sum(points) AS points \
               FROM (SELECT period, period_start, dimension, team_id, points FROM team_period_points \
                     UNION ALL SELECT period, period_start, dimension, team_id, points FROM team_period_points_pending) t \
               GROUP BY 1, 2, 3, 4) t",
    )
    .await;
    (members, histogram, teams)
}

/// The boards the trigger keeps under concurrent writes equal the boards recomputed from the
/// ledger from scratch: no point is lost or counted twice on the way.
#[rocket::async_test]
async fn boards_kept_under_concurrent_writes_equal_a_rebuild_from_the_ledger() {
    use rocket::http::{ContentType, Header, Status};
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    app.patch(
        "/api/v1/organisation/point-rules",
        &org.admin.token,
        json!({ "peer_monthly_allowance": 1000, "peer_daily_cap_per_recipient": 1000, "peer_monthly_cap_per_recipient": 1000 }),
    )
    .await
    .ok();
    let care = app.team(&org, "Care").await;
    let store = app.team(&org, "Store").await;
    let mut people = Vec::new();
    for (i, name) in ["Ana", "Ben", "Cy", "Di", "Eve", "Fay"].iter().enumerate() {
        let team = if i % 2 == 0 { care } else { store };
        people.push(app.member(&org, name, Role::Employee, Some(team)).await);
    }
    let dims = ["empathy", "trust", "problem_solving"];
    let requests = (0..60).map(|i| {
        let giver = &people[i % people.len()];
        let a = people[(i + 1) % people.len()].id;
        let b = people[(i + 2) % people.len()].id;
        let body = json!({
            "recipients": [a, b], "message": "thanks", "points": 1 + (i % 5), "dimension": dims[i % 3]
        });
        app.client
            .post("/api/v1/recognitions")
            .header(Header::new("Authorization", format!("Bearer {}", giver.token)))
            .header(ContentType::JSON)
            .body(body.to_string())
            .dispatch()
    });
    for r in futures::future::join_all(requests).await {
        assert_eq!(r.status(), Status::Created);
    }
    grant(&app, &org, people[0].id, -4).await;
    app.post_empty(
        &format!("/api/v1/members/{}/deactivate", people[1].id),
        &org.admin.token,
    )
    .await
    .ok();
    app.post(
        &format!("/api/v1/members/{}/move", people[2].id),
        &org.admin.token,
        json!({ "team_id": store }),
    )
    .await
    .ok();
    let kept = snapshot(&app).await;
    rebuild_boards(&app, &org).await;
    let rebuilt = snapshot(&app).await;
    assert!(!kept.0.is_empty());
    assert_eq!(kept.0, rebuilt.0, "member totals");
    assert_eq!(kept.1, rebuilt.1, "histogram");
    assert_eq!(kept.2, rebuilt.2, "team totals");
}

// ---- The read cache ----------------------------------------------------------------------

/// Every answer below is read once before the change, so it is cached when the change lands.
#[rocket::async_test]
async fn cached_answers_change_the_moment_a_write_through_the_api_answers() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let care = app.team(&org, "Care").await;
    let ana = app.member(&org, "Ana", Role::Employee, Some(care)).await;
    let ben = app.member(&org, "Ben", Role::Employee, Some(care)).await;
    let boards = [
        "/api/v1/leaderboards/members",
        "/api/v1/leaderboards/members?scope=team&around_me=2",
        "/api/v1/leaderboards/teams?around_me=1",
    ];
    for path in boards {
        app.get(path, &ben.token).await.ok();
    }
    app.post(
        "/api/v1/recognitions",
        &ben.token,
        json!({ "recipients": [ana.id], "message": "thanks", "points": 25 }),
    )
    .await
    .ok();
    let r = app.get(boards[0], &ben.token).await;
    assert_eq!(ranks(r.ok(), "top"), vec![("Ana".into(), 1, 25)]);
    let r = app.get(boards[1], &ben.token).await;
    assert_eq!(ranks(r.ok(), "around_me")[0], ("Ana".into(), 1, 25));
    let r = app.get(boards[2], &ben.token).await;
    assert_eq!(r.ok()["my_team"]["points"], 25);

    // A role change and a deactivation bite on the next request, though the token's session
    // was cached by the requests above.
    app.put(
        &format!("/api/v1/members/{}/role", ben.id),
        &org.admin.token,
        json!({ "role": "team_lead" }),
    )
    .await
    .ok();
    assert_eq!(
        app.get("/api/v1/me", &ben.token).await.ok()["role"],
        "team_lead"
    );
    app.post_empty(
        &format!("/api/v1/members/{}/deactivate", ben.id),
        &org.admin.token,
    )
    .await
    .ok();
    app.get(boards[0], &ben.token).await.problem(401);
    let r = app.get(boards[0], &ana.token).await;
    assert_eq!(r.ok()["ranked_members"], 1);
}

/// Writes that bypass this server (another instance, SQL) show once cached answers expire: the
/// first request after that is answered from the expired entry while it is reloaded in the
/// background, and the requests after the reload see the write. The time to live passes on
/// the service's clock, not the test's.
#[rocket::async_test]
async fn writes_made_elsewhere_show_within_the_time_to_live() {
    let app =
        TestApp::with(|f| frontline::config::with_override(f, "read_cache_ttl_ms", 60_000)).await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    // Each round uses a board of its own (a dimension) and asks whether the write was hidden
    // by the cached answer. A state-changing request elsewhere in this test process may
    // invalidate every cached entry in between, so one hidden write out of several proves
    // the cache; every write shows once the time to live has passed.
    let dimensions = ["empathy", "trust", "expectations", "personalisation"];
    let mut hidden = 0;
    for dimension in dimensions {
        let path = format!("/api/v1/leaderboards/members?period=all&dimension={dimension}");
        assert!(ranks(app.get(&path, &ana.token).await.ok(), "top").is_empty());
        entry(
            &app,
            org.id,
            ana.id,
            7,
            "2026-01-10T12:00:00Z",
            Some(dimension),
        )
        .await;
        if ranks(app.get(&path, &ana.token).await.ok(), "top").is_empty() {
            hidden += 1;
        }
    }
    assert!(
        hidden > 0,
        "no cached answer hid a write made outside the server"
    );
    app.clock.advance(std::time::Duration::from_secs(60));
    for dimension in dimensions {
        let path = format!("/api/v1/leaderboards/members?period=all&dimension={dimension}");
        // Until the background reload has stored its answer, the expired one is served.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut top = ranks(app.get(&path, &ana.token).await.ok(), "top");
        while top.is_empty() && std::time::Instant::now() < deadline {
            tokio::task::yield_now().await;
            top = ranks(app.get(&path, &ana.token).await.ok(), "top");
        }
        assert_eq!(top, vec![("Ana".into(), 1, 7)], "{dimension}");
    }
}

#[rocket::async_test]
async fn with_the_cache_off_every_read_sees_the_database() {
    let app = TestApp::with(|f| frontline::config::with_override(f, "read_cache_ttl_ms", 0)).await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let path = "/api/v1/leaderboards/members?period=all";
    assert!(ranks(app.get(path, &ana.token).await.ok(), "top").is_empty());
    entry(&app, org.id, ana.id, 7, "2026-01-10T12:00:00Z", None).await;
    assert_eq!(
        ranks(app.get(path, &ana.token).await.ok(), "top"),
        vec![("Ana".into(), 1, 7)]
    );
}

/// Every rank and window on a board full of ties, against a count done here: a rank is 1 +
/// the listed members with more points; `top` and `around_me` follow board order (points
/// desc, then who got there first) with the caller in the middle of their window.
#[rocket::async_test]
async fn every_rank_and_window_matches_a_count_over_a_board_full_of_ties() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let care = app.team(&org, "Care").await;
    let store = app.team(&org, "Store").await;
    // (name, team, points): ties within and across teams; one member without points.
    let spec: Vec<(String, Uuid, i32)> = (0..18)
        .map(|i| {
            let team = if i % 3 == 0 { store } else { care };
            (
                format!("M{i:02}"),
                team,
                [40, 30, 30, 20, 20, 20, 10, 5, 0][i % 9],
            )
        })
        .collect();
    let mut people = Vec::new();
    for (name, team, points) in &spec {
        let m = app.member(&org, name, Role::Employee, Some(*team)).await;
        if *points > 0 {
            grant(&app, &org, m.id, *points).await;
        }
        people.push((m, *team, *points));
    }
    let on_board = |team: Option<Uuid>| -> Vec<(String, i64)> {
        // Grants went in the order of `spec`, so among equals the earlier one got there first.
        let mut rows: Vec<(String, i64)> = spec
            .iter()
            .filter(|(_, t, p)| *p > 0 && team.is_none_or(|x| x == *t))
            .map(|(n, _, p)| (n.clone(), i64::from(*p)))
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.1));
        rows
    };
    let rank_of = |rows: &[(String, i64)], points: i64| {
        1 + rows.iter().filter(|(_, p)| *p > points).count() as i64
    };
    for (me, team, points) in people.iter().step_by(2) {
        for (scope, rows) in [
            ("organisation", on_board(None)),
            ("team", on_board(Some(*team))),
        ] {
            let path = format!("/api/v1/leaderboards/members?scope={scope}&limit=4&around_me=3");
            let r = app.get(&path, &me.token).await;
            let board = r.ok();
            let expected: Vec<(String, i64, i64)> = rows
                .iter()
                .map(|(n, p)| (n.clone(), rank_of(&rows, *p), *p))
                .collect();
            assert_eq!(
                ranks(board, "top"),
                expected[..4.min(expected.len())].to_vec(),
                "{scope} top for {}",
                me.id
            );
            assert_eq!(board["ranked_members"], rows.len() as i64, "{scope}");
            let mine = i64::from(*points);
            assert_eq!(board["me"]["rank"], rank_of(&rows, mine), "{scope} me");
            let window = ranks(board, "around_me");
            match expected
                .iter()
                .position(|(n, _, _)| *n == board["me"]["display_name"])
            {
                Some(i) => {
                    let from = i.saturating_sub(3);
                    let to = (i + 4).min(expected.len());
                    assert_eq!(window, expected[from..to].to_vec(), "{scope} window");
                }
                None => {
                    // Without points: the three lowest with points above, then the caller.
                    let from = expected.len().saturating_sub(3);
                    let mut want = expected[from..].to_vec();
                    want.push((
                        board["me"]["display_name"].as_str().unwrap().to_string(),
                        rank_of(&rows, 0),
                        0,
                    ));
                    assert_eq!(window, want, "{scope} window without points");
                }
            }
        }
    }
}

/// The top of a member board is read once and shared by every caller of the board: a caller
/// whose answer was never computed is given the top another caller's answer read, until a
/// write through the API (or the time to live) says it changed. Only the caller's own rows
/// are read for them.
#[rocket::async_test]
async fn the_top_of_a_board_is_read_once_for_every_caller() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let cy = app.member(&org, "Cy", Role::Employee, None).await;
    // Each round uses a board of its own (a dimension). A state-changing request of another
    // test in this process may drop every shared value in between, so one round that served
    // the shared top proves it.
    let mut shared = 0;
    for dimension in ["empathy", "trust", "expectations", "personalisation"] {
        let path = format!("/api/v1/leaderboards/members?period=all&dimension={dimension}");
        entry(
            &app,
            org.id,
            ana.id,
            7,
            "2026-01-10T12:00:00Z",
            Some(dimension),
        )
        .await;
        let r = app.get(&path, &ana.token).await;
        assert_eq!(ranks(r.ok(), "top"), vec![("Ana".into(), 1, 7)]);
        // Outside the server: no write clock ticks.
        entry(
            &app,
            org.id,
            ana.id,
            5,
            "2026-01-11T12:00:00Z",
            Some(dimension),
        )
        .await;
        let r = app.get(&path, &cy.token).await;
        assert_eq!(r.ok()["me"]["display_name"], "Cy");
        if ranks(r.ok(), "top") == vec![("Ana".into(), 1, 7)] {
            shared += 1;
        }
    }
    assert!(shared > 0, "no caller was served the top another had read");
}

/// A teams answer is a slice of the organisation's ranking: made from a cached ranking, it
/// needs no database connection, even when every one of the pool's is taken.
#[rocket::async_test]
async fn a_teams_answer_from_a_cached_ranking_takes_no_connection() {
    let app = TestApp::with(|f| {
        let f = frontline::config::with_override(f, "db_pool_size", 2);
        frontline::config::with_override(f, "db_pool_wait_ms", 500)
    })
    .await;
    let org = app.seed_org("acme").await;
    let care = app.team(&org, "Care").await;
    let ana = app.member(&org, "Ana", Role::Employee, Some(care)).await;
    let cy = app.member(&org, "Cy", Role::Employee, Some(care)).await;
    grant(&app, &org, ana.id, 10).await;
    app.let_boards_catch_up();
    let r = app.get("/api/v1/leaderboards/teams", &cy.token).await;
    assert_eq!(ranks(r.ok(), "top"), vec![("Care".into(), 1, 10)]);
    let db = app
        .client
        .rocket()
        .state::<frontline::db::Db>()
        .expect("the pool is state");
    let held = [db.conn().await.unwrap(), db.conn().await.unwrap()];
    // Another answer (other parameters) from the same ranking.
    let r = app
        .get("/api/v1/leaderboards/teams?limit=5&around_me=1", &cy.token)
        .await;
    assert_eq!(ranks(r.ok(), "top"), vec![("Care".into(), 1, 10)]);
    assert_eq!(
        ranks(r.ok(), "around_my_team"),
        vec![("Care".into(), 1, 10)]
    );
    drop(held);
}
