//! Issue #12, items 1 and 2: challenges people can trust. A team lead's reward is reserved from
//! their monthly budget and pays no more than was reserved; admins' rewards are capped; only
//! admins backdate (audited); open challenges are capped per organisation and team, and in
//! length; challenges are changed or cancelled only before they start (audited); and a
//! recognition no longer measures every running challenge.

use chrono::{Duration, SecondsFormat, Utc};
use diesel_async::RunQueryDsl;
use frontline::auth::Role;
use rocket::http::{ContentType, Header, Status};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::*;

const CHALLENGES: &str = "/api/v1/challenges";

fn at(offset: Duration) -> String {
    (Utc::now() + offset).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A team challenge counting recognitions received, starting in a minute (so it can still be
/// changed), for 30 days.
fn team_challenge(team: Uuid, extra: Value) -> Value {
    let mut body = json!({
        "title": "Thank each other",
        "scope": "team",
        "team_id": team,
        "metric": "recognitions_received",
        "target": 3,
        "starts_at": at(Duration::minutes(1)),
        "ends_at": at(Duration::days(30)),
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    body
}

fn path(c: &Value) -> String {
    format!("{CHALLENGES}/{}", c["id"].as_str().unwrap())
}

async fn create(app: &TestApp, who: &Actor, body: Value) -> Value {
    let r = app.post(CHALLENGES, &who.token, body).await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    r.body
}

/// What the member has spent of their giving allowance or budget this month.
async fn spent(app: &TestApp, who: &Actor) -> i64 {
    app.get("/api/v1/me/points", &who.token).await.ok()["allowance"]["spent"]
        .as_i64()
        .unwrap()
}

async fn sql(app: &TestApp, query: &str, id: Uuid) {
    let mut conn = app.db.conn().await;
    diesel::sql_query(query)
        .bind::<diesel::sql_types::Uuid, _>(id)
        .execute(&mut conn)
        .await
        .unwrap();
}

/// Make a challenge that was set to start later start now (tests cannot set the clock).
async fn start_now(app: &TestApp, c: &Value) {
    sql(
        app,
        "UPDATE challenges SET starts_at = now() - interval '1 second' WHERE id = $1",
        id_of(c),
    )
    .await;
}

async fn audit_actions(app: &TestApp, org: &Org, subject: &Value) -> Vec<(String, Value)> {
    let page = app
        .get("/api/v1/audit?limit=200", &org.admin.token)
        .await
        .ok()
        .clone();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["subject_id"] == *subject)
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["details"].clone(),
            )
        })
        .collect()
}

async fn rewards(app: &TestApp, who: &Actor) -> i64 {
    app.get("/api/v1/me/points?limit=200", &who.token)
        .await
        .ok()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == "challenge_reward")
        .map(|e| e["points"].as_i64().unwrap())
        .sum()
}

#[rocket::async_test]
async fn the_issue_s_exploit_is_refused_a_lead_can_neither_backdate_nor_overspend() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let support = app.team(&org, "Support").await;
    let lea = app
        .member(&org, "Lea Lead", Role::TeamLead, Some(support))
        .await;
    let emma = app
        .member(&org, "Emma", Role::Employee, Some(support))
        .await;
    app.member(&org, "Finn", Role::Employee, Some(support))
        .await;
    app.post(
        "/api/v1/recognitions",
        &org.admin.token,
        json!({ "recipients": [emma.id], "message": "Great save", "points": 10 }),
    )
    .await
    .ok();

    // The issue's request: started an hour ago, target 1, the largest reward.
    let r = app
        .post(
            CHALLENGES,
            &lea.token,
            team_challenge(
                support,
                json!({ "starts_at": at(-Duration::hours(1)), "target": 1, "reward_points": 100_000 }),
            ),
        )
        .await;
    r.invalid_field("starts_at");
    r.invalid_field("reward_points");
    assert_eq!(rewards(&app, &emma).await, 0);
    assert_eq!(rewards(&app, &lea).await, 0);

    // Within the cap but beyond the budget: 2 members (the lead is never paid by their own
    // challenge) x 300 > the default 500.
    let r = app
        .post(
            CHALLENGES,
            &lea.token,
            team_challenge(support, json!({ "reward_points": 300 })),
        )
        .await;
    let problem = r.problem(409);
    assert!(
        problem["detail"].as_str().unwrap().contains("budget"),
        "{problem}"
    );
    assert_eq!(spent(&app, &lea).await, 0, "a refusal reserves nothing");

    // Within it: 2 x 200 reserved, 100 left for recognitions or another challenge.
    let c = create(
        &app,
        &lea,
        team_challenge(support, json!({ "reward_points": 200 })),
    )
    .await;
    assert_eq!(c["reserved_points"], 400);
    assert_eq!(c["reward_slots"], 2);
    assert_eq!(spent(&app, &lea).await, 400);
    app.post(
        CHALLENGES,
        &lea.token,
        team_challenge(support, json!({ "reward_points": 51 })),
    )
    .await
    .problem(409);
    // The reservation and recognitions spend one budget.
    app.post(
        "/api/v1/recognitions",
        &lea.token,
        json!({ "recipients": [emma.id], "message": "Thanks", "points": 100 }),
    )
    .await
    .ok();
    assert_eq!(spent(&app, &lea).await, 500);

    // A clock a few seconds behind is taken as now, not as a backdated window.
    let skewed = create(
        &app,
        &lea,
        team_challenge(support, json!({ "starts_at": at(-Duration::seconds(5)) })),
    )
    .await;
    assert_eq!(skewed["status"], "active");
    assert_eq!(
        skewed["progress"], 0,
        "the recognition before it does not count"
    );
    let audit = audit_actions(&app, &org, &skewed["id"]).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].0, "challenge_created");
    assert_eq!(audit[0].1["backdated"], false);
}

#[rocket::async_test]
async fn admins_may_backdate_with_an_audit_entry_and_their_rewards_are_capped() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let body = json!({
        "title": "Thank each other", "scope": "organisation", "metric": "recognitions_received",
        "target": 1, "starts_at": at(-Duration::hours(1)), "ends_at": at(Duration::days(10)),
        "reward_points": 501,
    });
    // The default cap is 500 points per member.
    app.post(CHALLENGES, &org.admin.token, body.clone())
        .await
        .invalid_field("reward_points");
    app.patch(
        "/api/v1/organisation/point-rules",
        &org.admin.token,
        json!({ "challenge_reward_cap": 1000 }),
    )
    .await
    .ok();
    app.post(
        "/api/v1/recognitions",
        &org.admin.token,
        json!({ "recipients": [ana.id], "message": "Great save", "points": 10 }),
    )
    .await
    .ok();
    let c = create(&app, &org.admin, body).await;
    assert_eq!(
        c["progress"], 1,
        "a backdated window counts what happened since"
    );
    assert!(c["completed_at"].is_string());
    assert_eq!(c["reserved_points"], 0, "admins are unbudgeted");
    assert!(c["reward_slots"].is_null());
    assert_eq!(rewards(&app, &ana).await, 501);
    let audit = audit_actions(&app, &org, &c["id"]).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].0, "challenge_created");
    assert_eq!(audit[0].1["backdated"], true);
    assert_eq!(audit[0].1["reward_points"], 501);
}

#[rocket::async_test]
async fn open_challenges_are_capped_per_team_and_organisation_and_windows_in_length() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let support = app.team(&org, "Support").await;
    let sales = app.team(&org, "Sales").await;
    let admin = &org.admin;
    app.post(
        CHALLENGES,
        &admin.token,
        team_challenge(support, json!({ "ends_at": at(Duration::days(93)) })),
    )
    .await
    .invalid_field("ends_at");
    app.post(
        CHALLENGES,
        &admin.token,
        team_challenge(
            support,
            json!({ "starts_at": at(Duration::days(400)), "ends_at": at(Duration::days(410)) }),
        ),
    )
    .await
    .invalid_field("starts_at");

    for _ in 0..10 {
        create(&app, admin, team_challenge(support, json!({}))).await;
    }
    let full = app
        .post(CHALLENGES, &admin.token, team_challenge(support, json!({})))
        .await;
    assert_eq!(full.problem(409)["limit"], 10);
    // Ended and cancelled challenges make room.
    let ended = create(&app, admin, team_challenge(sales, json!({}))).await;
    let mut conn = app.db.conn().await;
    diesel::sql_query(
        "UPDATE challenges SET starts_at = now() - interval '2 days', ends_at = now() - interval '1 day' \
         WHERE team_id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(support)
    .execute(&mut conn)
    .await
    .unwrap();
    let c = create(&app, admin, team_challenge(support, json!({}))).await;
    app.post_empty(&format!("{}/cancel", path(&c)), &admin.token)
        .await
        .ok();
    create(&app, admin, team_challenge(support, json!({}))).await;
    assert_eq!(ended["status"], "upcoming");

    // The organisation: 100 open at once, whatever their teams.
    diesel::sql_query(
        "INSERT INTO challenges (organisation_id, title, scope, metric, target, starts_at, ends_at, created_by) \
         SELECT organisation_id, 'Filler', 'organisation', 'points_earned', 10, now(), now() + interval '5 days', id \
         FROM members, generate_series(1, 98) WHERE id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(admin.id)
    .execute(&mut conn)
    .await
    .unwrap();
    let full = app
        .post(CHALLENGES, &admin.token, team_challenge(sales, json!({})))
        .await;
    assert_eq!(full.problem(409)["limit"], 100);
}

#[rocket::async_test]
async fn racing_creations_neither_overspend_a_budget_nor_exceed_a_cap() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let support = app.team(&org, "Support").await;
    let sales = app.team(&org, "Sales").await;
    let lea = app
        .member(&org, "Lea Lead", Role::TeamLead, Some(support))
        .await;
    app.member(&org, "Emma", Role::Employee, Some(support))
        .await;
    app.member(&org, "Finn", Role::Employee, Some(support))
        .await;

    let send = |token: String, body: Value| {
        app.client
            .post(CHALLENGES)
            .header(Header::new("Authorization", format!("Bearer {token}")))
            .header(ContentType::JSON)
            .body(body.to_string())
            .dispatch()
    };
    // 2 members besides the lead x 100 each: the 500 budget covers two.
    let lead_requests = (0..8).map(|_| {
        send(
            lea.token.clone(),
            team_challenge(support, json!({ "reward_points": 100 })),
        )
    });
    let admin_requests =
        (0..16).map(|_| send(org.admin.token.clone(), team_challenge(sales, json!({}))));
    let (lead, admin) = futures::future::join(
        futures::future::join_all(lead_requests),
        futures::future::join_all(admin_requests),
    )
    .await;
    let mut lead_created = 0;
    for r in lead {
        let r = read(r).await;
        match r.status.code {
            201 => lead_created += 1,
            409 => {}
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert_eq!(lead_created, 2);
    assert_eq!(spent(&app, &lea).await, 400);
    let mut admin_created = 0;
    for r in admin {
        let r = read(r).await;
        match r.status.code {
            201 => admin_created += 1,
            409 => {}
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert_eq!(admin_created, 10, "the team cap holds under concurrency");
}

#[rocket::async_test]
async fn a_challenge_is_changed_or_cancelled_only_before_it_starts_by_its_lead_or_an_admin() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let support = app.team(&org, "Support").await;
    let lea = app
        .member(&org, "Lea Lead", Role::TeamLead, Some(support))
        .await;
    let leo = app
        .member(&org, "Leo Lead", Role::TeamLead, Some(support))
        .await;
    let emma = app
        .member(&org, "Emma", Role::Employee, Some(support))
        .await;
    app.member(&org, "Finn", Role::Employee, Some(support))
        .await;
    let other = app.seed_org("other").await;

    let c = create(
        &app,
        &lea,
        team_challenge(support, json!({ "reward_points": 50 })),
    )
    .await;
    assert_eq!(c["reserved_points"], 150);
    assert_eq!(spent(&app, &lea).await, 150);
    let p = path(&c);

    // Who may: the lead who set it, or an admin; another org's admin does not find it.
    for who in [&leo, &emma] {
        app.patch(&p, &who.token, json!({ "target": 5 }))
            .await
            .problem(403);
        app.post_empty(&format!("{p}/cancel"), &who.token)
            .await
            .problem(403);
    }
    app.patch(&p, &other.admin.token, json!({ "target": 5 }))
        .await
        .problem(404);
    app.post_empty(&format!("{p}/cancel"), &other.admin.token)
        .await
        .problem(404);
    app.patch(
        &format!("{CHALLENGES}/{}", Uuid::new_v4()),
        &lea.token,
        json!({ "target": 5 }),
    )
    .await
    .problem(404);

    // Bad input names the field; unknown fields are refused.
    app.patch(&p, &lea.token, json!({ "target": 0 }))
        .await
        .invalid_field("target");
    app.patch(
        &p,
        &lea.token,
        json!({ "starts_at": at(-Duration::hours(2)) }),
    )
    .await
    .invalid_field("starts_at");
    app.patch(
        &p,
        &lea.token,
        json!({ "ends_at": at(Duration::days(200)) }),
    )
    .await
    .invalid_field("ends_at");
    app.patch(&p, &lea.token, json!({ "reward_points": 100_001 }))
        .await
        .invalid_field("reward_points");
    app.patch(&p, &lea.token, json!({ "scope": "organisation" }))
        .await
        .problem(422);
    app.patch(&p, &lea.token, json!({ "reward_points": 200 }))
        .await
        .problem(409);
    assert_eq!(
        spent(&app, &lea).await,
        150,
        "a refused change keeps the reservation"
    );

    // A new reward is re-reserved.
    let changed = app
        .patch(
            &p,
            &lea.token,
            json!({ "reward_points": 100, "title": "Thank each other, twice", "target": 4 }),
        )
        .await
        .ok()
        .clone();
    assert_eq!(changed["reward_points"], 100);
    assert_eq!(changed["reserved_points"], 300);
    assert_eq!(changed["target"], 4);
    assert_eq!(changed["title"], "Thank each other, twice");
    assert_eq!(spent(&app, &lea).await, 300);

    // An admin cancels it: the reservation goes back to the lead's budget.
    let cancelled = app
        .post_empty(&format!("{p}/cancel"), &org.admin.token)
        .await
        .ok()
        .clone();
    assert!(cancelled["cancelled_at"].is_string());
    assert_eq!(spent(&app, &lea).await, 0);
    app.post_empty(&format!("{p}/cancel"), &lea.token)
        .await
        .problem(409);
    app.patch(&p, &lea.token, json!({ "target": 5 }))
        .await
        .problem(409);
    let listed = app
        .get(&format!("{CHALLENGES}?status=upcoming"), &lea.token)
        .await
        .ok()
        .clone();
    assert!(listed["items"].as_array().unwrap().is_empty());

    // Once started, it is neither changed nor cancelled (and keeps its reservation).
    let started = create(
        &app,
        &lea,
        team_challenge(support, json!({ "reward_points": 10 })),
    )
    .await;
    start_now(&app, &started).await;
    let sp = path(&started);
    app.patch(&sp, &lea.token, json!({ "target": 5 }))
        .await
        .problem(409);
    app.post_empty(&format!("{sp}/cancel"), &org.admin.token)
        .await
        .problem(409);
    assert_eq!(spent(&app, &lea).await, 30);

    let audit = audit_actions(&app, &org, &c["id"]).await;
    let actions: Vec<&str> = audit.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        vec![
            "challenge_cancelled",
            "challenge_changed",
            "challenge_created"
        ]
    );
    assert_eq!(audit[0].1["returned_points"], 300);
    assert_eq!(audit[1].1["changed"]["reward_points"]["from"], 50);
    assert_eq!(audit[1].1["changed"]["reward_points"]["to"], 100);
    assert_eq!(audit[1].1["changed"]["target"]["to"], 4);
}

#[rocket::async_test]
async fn a_team_that_grows_after_creation_is_paid_no_more_than_was_reserved() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let support = app.team(&org, "Support").await;
    let lea = app
        .member(&org, "Lea Lead", Role::TeamLead, Some(support))
        .await;
    let emma = app
        .member(&org, "Emma", Role::Employee, Some(support))
        .await;
    let finn = app
        .member(&org, "Finn", Role::Employee, Some(support))
        .await;
    let c = create(
        &app,
        &lea,
        team_challenge(support, json!({ "reward_points": 50 })),
    )
    .await;
    // Emma and Finn: a lead's challenge never pays the lead who set it.
    assert_eq!(c["reserved_points"], 100);
    assert_eq!(c["reward_slots"], 2);
    start_now(&app, &c).await;
    let gus = app.member(&org, "Gus", Role::Employee, Some(support)).await;
    // The lead is recognised first: the earliest contributor, and still not paid.
    for who in [&lea, &emma, &finn, &gus] {
        app.post(
            "/api/v1/recognitions",
            &org.admin.token,
            json!({ "recipients": [who.id], "message": "Great save", "points": 5 }),
        )
        .await
        .ok();
    }
    let now = app.get(&path(&c), &lea.token).await.ok().clone();
    assert!(now["completed_at"].is_string(), "{now}");
    assert_eq!(now["participants"], 4);
    // The earliest contributors, as many as were reserved for.
    assert_eq!(rewards(&app, &emma).await, 50);
    assert_eq!(rewards(&app, &finn).await, 50);
    assert_eq!(rewards(&app, &gus).await, 0);
    assert_eq!(rewards(&app, &lea).await, 0);
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Item 2: a recognition no longer runs one aggregate per running challenge. With 200 running
/// challenges that count approvals, the recognition must not read `initiative_events` at all:
/// it goes through while another transaction holds that table locked.
#[rocket::async_test]
async fn a_recognition_does_not_measure_the_running_challenges() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let thanks = create(
        &app,
        &org.admin,
        json!({
            "title": "Thanks", "scope": "organisation", "metric": "recognitions_received",
            "target": 2, "reward_points": 7, "ends_at": at(Duration::days(5)),
        }),
    )
    .await;

    let mut conn = app.db.conn().await;
    diesel::sql_query(
        "INSERT INTO challenges (organisation_id, title, scope, metric, target, starts_at, ends_at, created_by) \
         SELECT organisation_id, 'Approvals', 'organisation', 'initiatives_approved', 1000, \
                now() - interval '1 minute', now() + interval '5 days', id \
         FROM members, generate_series(1, 200) WHERE id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(org.admin.id)
    .execute(&mut conn)
    .await
    .unwrap();
    let mut locker = app.db.conn().await;
    diesel::sql_query("BEGIN")
        .execute(&mut locker)
        .await
        .unwrap();
    diesel::sql_query("LOCK TABLE initiative_events IN ACCESS EXCLUSIVE MODE")
        .execute(&mut locker)
        .await
        .unwrap();
    for _ in 0..2 {
        let r = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            app.post(
                "/api/v1/recognitions",
                &org.admin.token,
                json!({ "recipients": [ben.id], "message": "Thanks", "points": 5 }),
            ),
        )
        .await
        .expect("the recognition waited for the initiatives' events: it measured a challenge");
        assert_eq!(r.status, Status::Created, "{}", r.text);
    }
    diesel::sql_query("ROLLBACK")
        .execute(&mut locker)
        .await
        .unwrap();
    // The challenge the recognitions count is completed a moment later by the server's fold
    // (every `challenge_fold_interval_ms`), with nobody reading it.
    let mut paid = 0;
    for _ in 0..100 {
        let n: Count = diesel::sql_query(
            "SELECT count(*) AS n FROM ledger_entries WHERE reason = 'challenge_reward' AND source_id = $1",
        )
        .bind::<diesel::sql_types::Uuid, _>(id_of(&thanks))
        .get_result(&mut conn)
        .await
        .unwrap();
        paid = n.n;
        if paid > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(paid, 1);
    // Its pending activity was folded into the tallies and is gone.
    let left: Count = diesel::sql_query("SELECT count(*) AS n FROM challenge_activity")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(left.n, 0);
}

/// A lead's challenge reserved its badge's points as they were when it was set: an admin
/// raising the badge's points later does not make the completion pay past the reservation.
#[rocket::async_test]
async fn a_lead_s_challenge_pays_its_badge_at_the_reserved_points() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let support = app.team(&org, "Support").await;
    let lea = app
        .member(&org, "Lea Lead", Role::TeamLead, Some(support))
        .await;
    let emma = app
        .member(&org, "Emma", Role::Employee, Some(support))
        .await;
    let badge = app
        .post(
            "/api/v1/badges",
            &org.admin.token,
            json!({ "key": "champion", "name": "Champion", "criterion": "challenge", "points": 20 }),
        )
        .await;
    assert_eq!(badge.status, Status::Created, "{}", badge.text);
    let badge = badge.body["id"].as_str().unwrap().to_string();
    let c = create(
        &app,
        &lea,
        team_challenge(
            support,
            json!({ "reward_points": 30, "reward_badge_id": badge, "target": 1 }),
        ),
    )
    .await;
    assert_eq!(c["reserved_points"], 50, "1 member x (30 + 20)");
    app.patch(
        &format!("/api/v1/badges/{badge}"),
        &org.admin.token,
        json!({ "points": 5000 }),
    )
    .await
    .ok();
    start_now(&app, &c).await;
    app.post(
        "/api/v1/recognitions",
        &org.admin.token,
        json!({ "recipients": [emma.id], "message": "Great save", "points": 5 }),
    )
    .await
    .ok();
    let done = app.get(&path(&c), &lea.token).await.ok().clone();
    assert!(done["completed_at"].is_string(), "{done}");
    let entries = app
        .get("/api/v1/me/points?limit=200", &emma.token)
        .await
        .ok()["entries"]
        .as_array()
        .unwrap()
        .clone();
    let from_challenge: i64 = entries
        .iter()
        .filter(|e| e["reason"] == "challenge_reward" || e["reason"] == "badge")
        .map(|e| e["points"].as_i64().unwrap())
        .sum();
    assert_eq!(from_challenge, 50, "{entries:?}");
}
