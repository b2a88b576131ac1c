//! Challenges: who may set them, validation, the active / upcoming / past lists, live progress,
//! completion exactly once (also under concurrent activity) with points and a badge for every
//! participant, team scope, dimension and channel filters, tenant isolation and my progress.

use std::collections::HashMap;

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

fn with(mut body: Value, extra: Value) -> Value {
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    body
}

/// An organisation-wide challenge counting recognitions received, running for 30 days.
fn challenge(extra: Value) -> Value {
    with(
        json!({
            "title": "Thank each other",
            "scope": "organisation",
            "metric": "recognitions_received",
            "target": 3,
            "ends_at": at(Duration::days(30)),
        }),
        extra,
    )
}

async fn create(app: &TestApp, who: &Actor, body: Value) -> Value {
    let r = app.post(CHALLENGES, &who.token, body).await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    r.body
}

async fn show(app: &TestApp, who: &Actor, id: &Value) -> Value {
    app.get(
        &format!("{CHALLENGES}/{}", id.as_str().unwrap()),
        &who.token,
    )
    .await
    .ok()
    .clone()
}

async fn recognise(app: &TestApp, from: &Actor, to: &[Uuid], points: i32, dimension: Option<&str>) {
    let mut body =
        json!({ "recipients": to, "message": "Thank you for that save", "points": points });
    if let Some(d) = dimension {
        body["dimension"] = json!(d);
    }
    app.post("/api/v1/recognitions", &from.token, body)
        .await
        .ok();
}

async fn submit(app: &TestApp, author: &Actor, dimension: &str, channel: &str) -> String {
    let r = app
        .post(
            "/api/v1/initiatives",
            &author.token,
            json!({
                "title": "Called the customer back",
                "description": "Fixed the billing error the same day.",
                "dimension": dimension,
                "channel": channel,
                "journey_stage": "after",
                "customer_value": 4,
                "organisation_value": 3,
                "ease": 5,
            }),
        )
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    r.body["id"].as_str().unwrap().to_string()
}

/// A badge that only challenges award.
async fn challenge_badge(app: &TestApp, org: &Org, key: &str, points: i32) -> String {
    let r = app
        .post(
            "/api/v1/badges",
            &org.admin.token,
            json!({ "key": key, "name": "Challenge champion", "criterion": "challenge", "points": points }),
        )
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    r.body["id"].as_str().unwrap().to_string()
}

async fn entries(app: &TestApp, who: &Actor) -> Vec<Value> {
    app.get("/api/v1/me/points?limit=200", &who.token)
        .await
        .ok()["entries"]
        .as_array()
        .unwrap()
        .clone()
}

async fn balance(app: &TestApp, who: &Actor) -> i64 {
    app.get("/api/v1/me/points", &who.token).await.ok()["balance"]
        .as_i64()
        .unwrap()
}

/// The challenge rewards in a member's ledger.
async fn rewards(app: &TestApp, who: &Actor) -> Vec<Value> {
    entries(app, who)
        .await
        .into_iter()
        .filter(|e| e["reason"] == "challenge_reward")
        .collect()
}

async fn badge_ids(app: &TestApp, viewer: &Actor, member: Uuid) -> Vec<String> {
    app.get(&format!("/api/v1/members/{member}/badges"), &viewer.token)
        .await
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_string())
        .collect()
}

fn titles(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["title"].as_str().unwrap().to_string())
        .collect()
}

async fn set_window(app: &TestApp, id: &Value, starts: &str, ends: &str) {
    let mut conn = app.db.conn().await;
    diesel::sql_query(
        "UPDATE challenges SET starts_at = $2::timestamptz, ends_at = $3::timestamptz WHERE id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(Uuid::parse_str(id.as_str().unwrap()).unwrap())
    .bind::<diesel::sql_types::Text, _>(starts)
    .bind::<diesel::sql_types::Text, _>(ends)
    .execute(&mut conn)
    .await
    .unwrap();
}

#[rocket::async_test]
async fn admins_set_any_challenge_team_leads_their_own_team_s_and_nobody_else() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let support = app.team(&org, "Support").await;
    let sales = app.team(&org, "Sales").await;
    let lea = app
        .member(&org, "Lea Lead", Role::TeamLead, Some(support))
        .await;
    let emma = app
        .member(&org, "Emma", Role::Employee, Some(support))
        .await;
    let hanna = app.member(&org, "Hanna HR", Role::Hr, None).await;

    let body = create(
        &app,
        &org.admin,
        challenge(json!({
            "title": "  Empathy month  ",
            "description": "Twenty empathy wins\nbefore Christmas.",
            "metric": "initiatives_submitted",
            "dimension": "empathy",
            "channel": "phone",
            "target": 20,
            "reward_points": 50,
        })),
    )
    .await;
    assert_eq!(body["title"], "Empathy month");
    assert_eq!(
        body["description"],
        "Twenty empathy wins\nbefore Christmas."
    );
    assert_eq!(body["scope"], "organisation");
    assert!(body["team_id"].is_null());
    assert_eq!(body["metric"], "initiatives_submitted");
    assert_eq!(body["dimension"], "empathy");
    assert_eq!(body["channel"], "phone");
    assert_eq!(body["target"], 20);
    assert_eq!(body["reward_points"], 50);
    assert_eq!(body["status"], "active");
    assert_eq!(body["progress"], 0);
    assert_eq!(body["percent"], 0);
    assert_eq!(body["participants"], 0);
    assert!(body["completed_at"].is_null());
    assert_eq!(body["created_by"], org.admin.id.to_string());

    // Admins set team challenges for any team.
    let r = create(
        &app,
        &org.admin,
        challenge(json!({ "scope": "team", "team_id": sales })),
    )
    .await;
    assert_eq!(r["team_id"], sales.to_string());

    // A team lead sets one for their own team...
    let r = create(
        &app,
        &lea,
        challenge(json!({ "scope": "team", "team_id": support })),
    )
    .await;
    assert_eq!(r["scope"], "team");
    assert_eq!(r["created_by"], lea.id.to_string());
    // ...but not for another team, nor the organisation.
    app.post(
        CHALLENGES,
        &lea.token,
        challenge(json!({ "scope": "team", "team_id": sales })),
    )
    .await
    .problem(403);
    app.post(CHALLENGES, &lea.token, challenge(json!({})))
        .await
        .problem(403);
    // Employees and HR do not set challenges.
    app.post(CHALLENGES, &emma.token, challenge(json!({})))
        .await
        .problem(403);
    app.post(CHALLENGES, &hanna.token, challenge(json!({})))
        .await
        .problem(403);

    // Another organisation's team is not a team of yours.
    let other = app.seed_org("other").await;
    let theirs = app.team(&other, "Theirs").await;
    app.post(
        CHALLENGES,
        &org.admin.token,
        challenge(json!({ "scope": "team", "team_id": theirs })),
    )
    .await
    .invalid_field("team_id");
}

#[rocket::async_test]
async fn every_invalid_field_is_named_at_once() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let admin = &org.admin;

    // Everything required, missing.
    let r = app.post(CHALLENGES, &admin.token, json!({})).await;
    for field in ["title", "scope", "metric", "target", "ends_at"] {
        r.invalid_field(field);
    }

    let r = app
        .post(
            CHALLENGES,
            &admin.token,
            json!({
                "title": "  ",
                "description": "x".repeat(2001),
                "scope": "team",
                "metric": "karma",
                "dimension": "joy",
                "channel": "fax",
                "target": 0,
                "reward_points": 100_001,
                "starts_at": "yesterday",
                "ends_at": at(-Duration::hours(1)),
                "reward_badge_id": "not-an-id",
            }),
        )
        .await;
    for field in [
        "title",
        "description",
        "team_id",
        "metric",
        "dimension",
        "channel",
        "target",
        "reward_points",
        "starts_at",
        "ends_at",
        "reward_badge_id",
    ] {
        r.invalid_field(field);
    }

    // The channel filters initiatives only.
    app.post(
        CHALLENGES,
        &admin.token,
        challenge(json!({ "metric": "recognitions_given", "channel": "phone" })),
    )
    .await
    .invalid_field("channel");
    // The window ends after it starts, and not in the past.
    app.post(
        CHALLENGES,
        &admin.token,
        challenge(json!({ "starts_at": at(Duration::days(5)), "ends_at": at(Duration::days(4)) })),
    )
    .await
    .invalid_field("ends_at");
    app.post(
        CHALLENGES,
        &admin.token,
        challenge(json!({ "ends_at": at(-Duration::seconds(1)) })),
    )
    .await
    .invalid_field("ends_at");
    app.post(
        CHALLENGES,
        &admin.token,
        challenge(json!({ "ends_at": "2030-13-01T00:00:00Z" })),
    )
    .await
    .invalid_field("ends_at");
    // Targets and rewards within bounds.
    app.post(
        CHALLENGES,
        &admin.token,
        challenge(json!({ "target": 10_000_001 })),
    )
    .await
    .invalid_field("target");
    app.post(
        CHALLENGES,
        &admin.token,
        challenge(json!({ "reward_points": -1 })),
    )
    .await
    .invalid_field("reward_points");
    // An organisation challenge has no team.
    let team = app.team(&org, "Support").await;
    app.post(
        CHALLENGES,
        &admin.token,
        challenge(json!({ "team_id": team })),
    )
    .await
    .invalid_field("team_id");
    // Unknown fields are refused, by name.
    app.post(
        CHALLENGES,
        &admin.token,
        challenge(json!({ "prize": "a cake" })),
    )
    .await
    .invalid_field("prize");

    // The reward badge: of this organisation, and one that only challenges award.
    let badges = app.get("/api/v1/badges", &admin.token).await;
    let first_win = badges
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["key"] == "first_win")
        .unwrap()["id"]
        .clone();
    app.post(
        CHALLENGES,
        &admin.token,
        challenge(json!({ "reward_badge_id": first_win })),
    )
    .await
    .invalid_field("reward_badge_id");
    app.post(
        CHALLENGES,
        &admin.token,
        challenge(json!({ "reward_badge_id": Uuid::new_v4() })),
    )
    .await
    .invalid_field("reward_badge_id");
    let other = app.seed_org("other").await;
    let theirs = challenge_badge(&app, &other, "their_champion", 5).await;
    app.post(
        CHALLENGES,
        &admin.token,
        challenge(json!({ "reward_badge_id": theirs })),
    )
    .await
    .invalid_field("reward_badge_id");
    let ours = challenge_badge(&app, &org, "champion", 5).await;
    let r = create(&app, admin, challenge(json!({ "reward_badge_id": ours }))).await;
    assert_eq!(r["reward_badge_id"], json!(ours));
}

#[rocket::async_test]
async fn challenges_are_listed_as_active_upcoming_and_past() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let support = app.team(&org, "Support").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let admin = &org.admin;

    let long = create(
        &app,
        admin,
        challenge(json!({ "title": "Long", "ends_at": at(Duration::days(20)) })),
    )
    .await;
    let short = create(
        &app,
        admin,
        challenge(json!({
            "title": "Short", "scope": "team", "team_id": support, "ends_at": at(Duration::days(5)),
        })),
    )
    .await;
    let later = create(
        &app,
        admin,
        challenge(json!({
            "title": "Later", "starts_at": at(Duration::days(10)), "ends_at": at(Duration::days(40)),
        })),
    )
    .await;
    let soon = create(
        &app,
        admin,
        challenge(json!({
            "title": "Soon", "starts_at": at(Duration::days(2)), "ends_at": at(Duration::days(9)),
        })),
    )
    .await;
    assert_eq!(later["status"], "upcoming");
    assert_eq!(later["progress"], 0);
    let old = create(&app, admin, challenge(json!({ "title": "Old" }))).await;
    set_window(
        &app,
        &old["id"],
        &at(-Duration::days(40)),
        &at(-Duration::days(10)),
    )
    .await;
    let older = create(&app, admin, challenge(json!({ "title": "Older" }))).await;
    set_window(
        &app,
        &older["id"],
        &at(-Duration::days(90)),
        &at(-Duration::days(60)),
    )
    .await;

    // Active by default, ending soonest first; any member may look.
    let r = app.get(CHALLENGES, &ana.token).await;
    assert_eq!(titles(r.ok()), vec!["Short", "Long"]);
    assert!(r.body["next_cursor"].is_null());
    let r = app
        .get(&format!("{CHALLENGES}?status=upcoming"), &ana.token)
        .await;
    assert_eq!(titles(r.ok()), vec!["Soon", "Later"]);
    assert_eq!(r.body["items"][0]["status"], "upcoming");
    let r = app
        .get(&format!("{CHALLENGES}?status=past"), &ana.token)
        .await;
    assert_eq!(titles(r.ok()), vec!["Old", "Older"]);
    assert_eq!(r.body["items"][0]["status"], "past");
    assert!(r.body["items"][0]["completed_at"].is_null());
    let r = app
        .get(
            &format!("{CHALLENGES}?status=active&team_id={support}"),
            &ana.token,
        )
        .await;
    assert_eq!(titles(r.ok()), vec!["Short"]);

    // Page by page.
    let first = app
        .get(&format!("{CHALLENGES}?status=upcoming&limit=1"), &ana.token)
        .await;
    assert_eq!(titles(first.ok()), vec!["Soon"]);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = app
        .get(
            &format!("{CHALLENGES}?status=upcoming&limit=1&cursor={cursor}"),
            &ana.token,
        )
        .await;
    assert_eq!(titles(second.ok()), vec!["Later"]);
    assert!(second.body["next_cursor"].is_null());
    let first = app
        .get(&format!("{CHALLENGES}?status=past&limit=1"), &ana.token)
        .await;
    let cursor = first.ok()["next_cursor"].as_str().unwrap();
    let second = app
        .get(
            &format!("{CHALLENGES}?status=past&limit=1&cursor={cursor}"),
            &ana.token,
        )
        .await;
    assert_eq!(titles(second.ok()), vec!["Older"]);

    // Bad parameters are named.
    let r = app
        .get(
            &format!("{CHALLENGES}?status=finished&team_id=x&limit=0&cursor=zzz"),
            &ana.token,
        )
        .await;
    for field in ["status", "team_id", "limit", "cursor"] {
        r.invalid_field(field);
    }
    let _ = (long, short, soon);
}

#[rocket::async_test]
async fn progress_is_live_and_completion_rewards_every_participant_once() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let cy = app.member(&org, "Cy", Role::Employee, None).await;
    let badge = challenge_badge(&app, &org, "thank_you_champion", 15).await;
    let c = create(
        &app,
        &org.admin,
        challenge(json!({ "target": 3, "reward_points": 40, "reward_badge_id": badge })),
    )
    .await;
    let id = &c["id"];

    recognise(&app, &ana, &[ben.id], 10, None).await;
    let now = show(&app, &ben, id).await;
    assert_eq!(now["progress"], 1);
    assert_eq!(now["percent"], 33);
    assert_eq!(now["participants"], 1);
    assert_eq!(now["contribution"], 1, "Ben was recognised once");
    assert!(now["completed_at"].is_null());
    assert_eq!(show(&app, &ana, id).await["contribution"], 0);

    recognise(&app, &ana, &[cy.id], 10, None).await;
    assert_eq!(show(&app, &ana, id).await["progress"], 2);
    assert!(rewards(&app, &ben).await.is_empty());

    // The third recognition reaches the target: the challenge is complete as soon as the
    // request that reached it has answered.
    recognise(&app, &ben, &[cy.id], 10, None).await;
    let done = show(&app, &cy, id).await;
    assert_eq!(done["progress"], 3);
    assert_eq!(done["percent"], 100);
    assert_eq!(done["participants"], 2);
    assert_eq!(done["contribution"], 2);
    let completed_at = done["completed_at"].clone();
    assert!(completed_at.is_string(), "{done}");

    // Ben and Cy were recognised: each has the reward once, and the badge with its points.
    for who in [&ben, &cy] {
        let mine = rewards(&app, who).await;
        assert_eq!(mine.len(), 1, "{mine:?}");
        assert_eq!(mine[0]["points"], 40);
        assert_eq!(mine[0]["source_type"], "challenge");
        assert_eq!(mine[0]["source_id"], *id);
        assert_eq!(badge_ids(&app, &ana, who.id).await, vec![badge.clone()]);
    }
    assert_eq!(balance(&app, &ben).await, 10 + 40 + 15);
    assert_eq!(balance(&app, &cy).await, 20 + 40 + 15);
    // Ana only gave: she took no part in what this challenge counts.
    assert!(rewards(&app, &ana).await.is_empty());
    assert!(badge_ids(&app, &ana, ana.id).await.is_empty());

    // Progress keeps counting until the window ends; the rewards are not granted again.
    recognise(&app, &ana, &[ben.id], 10, None).await;
    let after = show(&app, &ana, id).await;
    assert_eq!(after["progress"], 4);
    assert_eq!(after["percent"], 100);
    assert_eq!(after["completed_at"], completed_at);
    assert_eq!(rewards(&app, &ben).await.len(), 1);
    assert_eq!(balance(&app, &ben).await, 20 + 40 + 15);
}

/// The acceptance race: the challenge stands one short of its target, and 20 concurrent
/// recognitions each reach it. Exactly one completes it; every participant is rewarded once.
#[rocket::async_test]
async fn racing_activity_completes_a_challenge_exactly_once() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let mut people = Vec::new();
    for name in ["Ana", "Ben", "Cy", "Di"] {
        people.push(app.member(&org, name, Role::Employee, None).await);
    }
    let badge = challenge_badge(&app, &org, "team_player", 5).await;
    let c = create(
        &app,
        &org.admin,
        challenge(json!({ "target": 10, "reward_points": 25, "reward_badge_id": badge })),
    )
    .await;
    let id = c["id"].clone();
    let ids: Vec<Uuid> = people.iter().map(|p| p.id).collect();
    for i in 0..9 {
        recognise(&app, &org.admin, &[ids[i % 4]], 1, None).await;
    }
    let before = show(&app, &org.admin, &id).await;
    assert_eq!(before["progress"], 9);
    assert!(before["completed_at"].is_null());

    let requests = (0..20).map(|i| {
        app.client
            .post("/api/v1/recognitions")
            .header(Header::new(
                "Authorization",
                format!("Bearer {}", org.admin.token),
            ))
            .header(ContentType::JSON)
            .body(
                json!({ "recipients": [ids[i % 4]], "message": "Thanks!", "points": 1 })
                    .to_string(),
            )
            .dispatch()
    });
    for r in futures::future::join_all(requests).await {
        let r = read(r).await;
        assert_eq!(r.status, Status::Created, "{}", r.text);
    }

    let after = show(&app, &org.admin, &id).await;
    assert_eq!(after["progress"], 29);
    assert!(after["completed_at"].is_string());
    for who in &people {
        let mine = rewards(&app, who).await;
        assert_eq!(mine.len(), 1, "{}: {mine:?}", who.email);
        assert_eq!(mine[0]["points"], 25);
        let badge_points: Vec<Value> = entries(&app, who)
            .await
            .into_iter()
            .filter(|e| e["reason"] == "badge")
            .collect();
        assert_eq!(badge_points.len(), 1, "{badge_points:?}");
        assert_eq!(badge_ids(&app, who, who.id).await, vec![badge.clone()]);
    }
    // And nothing else was rewarded: one reward per participant in the whole ledger.
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = app.db.conn().await;
    let n: N = diesel::sql_query(
        "SELECT count(*) AS n FROM ledger_entries WHERE reason = 'challenge_reward' AND source_id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(Uuid::parse_str(id.as_str().unwrap()).unwrap())
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(n.n, 4);
}

/// The same race where nothing else serialises the requests: submissions earn no points here,
/// so they share no leaderboard rows, and all 20 evaluate the challenge at once.
#[rocket::async_test]
async fn racing_submissions_complete_a_challenge_exactly_once() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    app.patch(
        "/api/v1/organisation/point-rules",
        &org.admin.token,
        json!({ "initiative_submitted": 0 }),
    )
    .await
    .ok();
    let mut people = Vec::new();
    for name in ["Ana", "Ben", "Cy", "Di", "Eve"] {
        people.push(app.member(&org, name, Role::Employee, None).await);
    }
    let badge = challenge_badge(&app, &org, "idea_machine", 5).await;
    let c = create(
        &app,
        &org.admin,
        challenge(json!({
            "metric": "initiatives_submitted", "target": 10, "reward_points": 25,
            "reward_badge_id": badge,
        })),
    )
    .await;
    let id = c["id"].clone();
    for i in 0..9 {
        submit(&app, &people[i % 5], "empathy", "phone").await;
    }
    assert_eq!(show(&app, &org.admin, &id).await["progress"], 9);

    let requests = (0..20).map(|i| {
        app.client
            .post("/api/v1/initiatives")
            .header(Header::new(
                "Authorization",
                format!("Bearer {}", people[i % 5].token),
            ))
            .header(ContentType::JSON)
            .body(
                json!({
                    "title": format!("Idea {i}"),
                    "description": "Call back within the hour.",
                    "dimension": "time_and_effort",
                    "channel": "phone",
                    "journey_stage": "after",
                    "customer_value": 4,
                    "organisation_value": 3,
                    "ease": 5,
                })
                .to_string(),
            )
            .dispatch()
    });
    for r in futures::future::join_all(requests).await {
        let r = read(r).await;
        assert_eq!(r.status, Status::Created, "{}", r.text);
    }

    let after = show(&app, &org.admin, &id).await;
    assert_eq!(after["progress"], 29);
    assert_eq!(after["participants"], 5);
    assert!(after["completed_at"].is_string());
    for who in &people {
        let mine = rewards(&app, who).await;
        assert_eq!(mine.len(), 1, "{}: {mine:?}", who.email);
        assert_eq!(balance(&app, who).await, 25 + 5, "{}", who.email);
        assert_eq!(badge_ids(&app, who, who.id).await, vec![badge.clone()]);
    }
}

#[rocket::async_test]
async fn a_team_challenge_counts_only_the_team_s_activity_by_the_team_at_the_time() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    // Counts submission points at once (paid on approval is tested in trust_wins).
    pay_on_submission(&app, &org).await;
    let support = app.team(&org, "Support").await;
    let sales = app.team(&org, "Sales").await;
    let lea = app
        .member(&org, "Lea Lead", Role::TeamLead, Some(support))
        .await;
    let emma = app
        .member(&org, "Emma", Role::Employee, Some(support))
        .await;
    let eric = app
        .member(&org, "Eric", Role::Employee, Some(support))
        .await;
    let pia = app.member(&org, "Pia", Role::Employee, Some(sales)).await;

    let received = create(
        &app,
        &lea,
        challenge(json!({ "scope": "team", "team_id": support, "target": 100 })),
    )
    .await;
    let given = create(
        &app,
        &lea,
        challenge(json!({
            "scope": "team", "team_id": support, "metric": "recognitions_given", "target": 100,
        })),
    )
    .await;
    let submitted = create(
        &app,
        &lea,
        challenge(json!({
            "scope": "team", "team_id": support, "metric": "initiatives_submitted", "target": 100,
        })),
    )
    .await;
    let points = create(
        &app,
        &lea,
        challenge(json!({
            "scope": "team", "team_id": support, "metric": "points_earned", "target": 1000,
        })),
    )
    .await;

    recognise(&app, &pia, &[emma.id], 10, None).await; // Support receives, Sales gives.
    recognise(&app, &emma, &[pia.id], 10, None).await; // Sales receives, Support gives.
    recognise(&app, &eric, &[emma.id], 10, None).await; // Support both ways.
    submit(&app, &emma, "empathy", "phone").await; // 5 points
    submit(&app, &pia, "empathy", "phone").await;

    assert_eq!(show(&app, &eric, &received["id"]).await["progress"], 2);
    assert_eq!(show(&app, &eric, &given["id"]).await["progress"], 2);
    assert_eq!(show(&app, &eric, &submitted["id"]).await["progress"], 1);
    assert_eq!(
        show(&app, &eric, &points["id"]).await["progress"],
        10 + 10 + 5
    );

    // Emma moves to Sales: what she did for Support stays Support's; what she does now is not.
    app.post(
        &format!("/api/v1/members/{}/move", emma.id),
        &org.admin.token,
        json!({ "team_id": sales }),
    )
    .await
    .ok();
    recognise(&app, &eric, &[emma.id], 10, None).await;
    recognise(&app, &emma, &[eric.id], 10, None).await;
    submit(&app, &emma, "empathy", "phone").await;
    let r = show(&app, &eric, &received["id"]).await;
    assert_eq!(
        r["progress"], 3,
        "Eric received from Emma; Emma's receipt counts for Sales"
    );
    assert_eq!(r["participants"], 2);
    assert_eq!(show(&app, &eric, &given["id"]).await["progress"], 3);
    assert_eq!(show(&app, &eric, &submitted["id"]).await["progress"], 1);
    assert_eq!(
        show(&app, &eric, &points["id"]).await["progress"],
        10 + 10 + 5 + 10
    );
}

#[rocket::async_test]
async fn dimension_and_channel_narrow_what_counts() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    // Counts submission points at once (paid on approval is tested in trust_wins).
    pay_on_submission(&app, &org).await;
    let support = app.team(&org, "Support").await;
    let lea = app
        .member(&org, "Lea Lead", Role::TeamLead, Some(support))
        .await;
    let emma = app
        .member(&org, "Emma", Role::Employee, Some(support))
        .await;
    let eric = app
        .member(&org, "Eric", Role::Employee, Some(support))
        .await;

    let phone_empathy = create(
        &app,
        &org.admin,
        challenge(json!({
            "metric": "initiatives_submitted", "dimension": "empathy", "channel": "phone", "target": 3,
        })),
    )
    .await;
    let approved_trust = create(
        &app,
        &org.admin,
        challenge(json!({
            "metric": "initiatives_approved", "dimension": "trust", "target": 2, "reward_points": 30,
        })),
    )
    .await;
    let empathy_thanks = create(
        &app,
        &org.admin,
        challenge(json!({ "metric": "recognitions_given", "dimension": "empathy", "target": 50 })),
    )
    .await;
    let empathy_points = create(
        &app,
        &org.admin,
        challenge(json!({ "metric": "points_earned", "dimension": "empathy", "target": 1000 })),
    )
    .await;

    submit(&app, &emma, "empathy", "phone").await;
    submit(&app, &emma, "empathy", "email").await;
    let t1 = submit(&app, &emma, "trust", "phone").await;
    let t2 = submit(&app, &eric, "trust", "chat").await;
    let _t3 = submit(&app, &eric, "trust", "chat").await;
    recognise(&app, &emma, &[eric.id], 10, Some("empathy")).await;
    recognise(&app, &emma, &[eric.id], 5, Some("trust")).await;
    recognise(&app, &eric, &[emma.id], 5, None).await;

    let r = show(&app, &emma, &phone_empathy["id"]).await;
    assert_eq!(r["progress"], 1);
    assert_eq!(r["contribution"], 1);
    assert_eq!(
        show(&app, &emma, &empathy_thanks["id"]).await["progress"],
        1
    );
    // Empathy points: the recognition's 10 (submissions carry their dimension too: 2 x 5).
    assert_eq!(
        show(&app, &emma, &empathy_points["id"]).await["progress"],
        10 + 5 + 5
    );

    // Approvals of trust wins: the second completes the challenge, and the authors of the
    // approved wins (Emma, Eric) are rewarded; the lead who approved them took no part.
    for id in [&t1, &t2] {
        app.post(
            &format!("/api/v1/initiatives/{id}/approve"),
            &lea.token,
            json!({}),
        )
        .await
        .ok();
    }
    let done = show(&app, &lea, &approved_trust["id"]).await;
    assert_eq!(done["progress"], 2);
    assert_eq!(done["participants"], 2);
    assert!(done["completed_at"].is_string());
    assert_eq!(rewards(&app, &emma).await.len(), 1);
    assert_eq!(rewards(&app, &eric).await.len(), 1);
    assert!(rewards(&app, &lea).await.is_empty());
}

#[rocket::async_test]
async fn challenge_rewards_never_count_toward_a_challenge() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let badge = challenge_badge(&app, &org, "quick_win", 300).await;
    let points = create(
        &app,
        &org.admin,
        challenge(json!({ "metric": "points_earned", "target": 10_000 })),
    )
    .await;
    let quick = create(
        &app,
        &org.admin,
        challenge(json!({
            "title": "Quick", "target": 1, "reward_points": 500, "reward_badge_id": badge,
        })),
    )
    .await;
    recognise(&app, &ana, &[ben.id], 10, None).await;
    assert!(show(&app, &ana, &quick["id"]).await["completed_at"].is_string());
    assert_eq!(balance(&app, &ben).await, 10 + 500 + 300);
    let p = show(&app, &ana, &points["id"]).await;
    assert_eq!(
        p["progress"], 10,
        "the 500 and the badge's 300 are rewards, not earnings"
    );
    assert_eq!(p["participants"], 1);
}

#[rocket::async_test]
async fn a_window_that_started_earlier_counts_what_happened_since_and_may_complete_at_once() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    recognise(&app, &ana, &[ben.id], 10, None).await;
    recognise(&app, &ana, &[ben.id], 10, None).await;
    let c = create(
        &app,
        &org.admin,
        challenge(json!({
            "starts_at": at(-Duration::hours(1)), "target": 2, "reward_points": 20,
        })),
    )
    .await;
    assert_eq!(c["progress"], 2);
    assert!(c["completed_at"].is_string(), "{c}");
    assert_eq!(rewards(&app, &ben).await.len(), 1);
    // A window that starts later counts nothing from before.
    let later = create(
        &app,
        &org.admin,
        challenge(json!({ "starts_at": at(Duration::minutes(5)), "target": 1 })),
    )
    .await;
    assert_eq!(later["progress"], 0);
    assert_eq!(later["status"], "upcoming");
}

#[rocket::async_test]
async fn another_organisation_s_challenge_is_not_found() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let other = app.seed_org("other").await;
    let c = create(&app, &org.admin, challenge(json!({}))).await;
    let id = c["id"].as_str().unwrap();
    app.get(&format!("{CHALLENGES}/{id}"), &other.admin.token)
        .await
        .problem(404);
    app.get(&format!("{CHALLENGES}/not-an-id"), &org.admin.token)
        .await
        .problem(404);
    app.get(
        &format!("{CHALLENGES}/{}", Uuid::new_v4()),
        &org.admin.token,
    )
    .await
    .problem(404);
    let theirs = app.get(CHALLENGES, &other.admin.token).await;
    assert!(theirs.ok()["items"].as_array().unwrap().is_empty());
    // Nor does their activity move ours.
    let x = app.member(&other, "Xena", Role::Employee, None).await;
    let y = app.member(&other, "Yann", Role::Employee, None).await;
    recognise(&app, &x, &[y.id], 10, None).await;
    assert_eq!(show(&app, &org.admin, &c["id"]).await["progress"], 0);
}

#[rocket::async_test]
async fn my_progress_shows_the_running_challenges_of_my_team_and_organisation() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let support = app.team(&org, "Support").await;
    let sales = app.team(&org, "Sales").await;
    let emma = app
        .member(&org, "Emma", Role::Employee, Some(support))
        .await;
    let pia = app.member(&org, "Pia", Role::Employee, Some(sales)).await;
    let everyone = create(
        &app,
        &org.admin,
        challenge(json!({ "title": "Everyone", "target": 5, "ends_at": at(Duration::days(20)) })),
    )
    .await;
    create(
        &app,
        &org.admin,
        challenge(json!({
            "title": "Support", "scope": "team", "team_id": support, "target": 5,
            "ends_at": at(Duration::days(10)),
        })),
    )
    .await;
    create(
        &app,
        &org.admin,
        challenge(json!({ "title": "Sales", "scope": "team", "team_id": sales })),
    )
    .await;
    create(
        &app,
        &org.admin,
        challenge(json!({
            "title": "Next month", "starts_at": at(Duration::days(3)), "ends_at": at(Duration::days(33)),
        })),
    )
    .await;
    recognise(&app, &pia, &[emma.id], 10, None).await;

    let p = app.get("/api/v1/me/progress", &emma.token).await;
    let list = p.ok()["challenges"].as_array().unwrap().clone();
    let got: HashMap<String, (i64, i64)> = list
        .iter()
        .map(|c| {
            (
                c["title"].as_str().unwrap().to_string(),
                (
                    c["progress"].as_i64().unwrap(),
                    c["contribution"].as_i64().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(
        list.iter()
            .map(|c| c["title"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["Support", "Everyone"],
        "ending soonest first"
    );
    assert_eq!(got["Support"], (1, 1));
    assert_eq!(got["Everyone"], (1, 1));
    assert_eq!(list[1]["id"], everyone["id"]);
    assert_eq!(list[1]["target"], 5);
    let theirs = app.get("/api/v1/me/progress", &pia.token).await;
    let titles: Vec<String> = theirs.ok()["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["title"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(titles, vec!["Everyone", "Sales"]);
}
