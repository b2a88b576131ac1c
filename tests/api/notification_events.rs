//! Every event the inbox tells of, each to exactly its audience, never to its actor: wins
//! (waiting for approval, approved, declined, implemented, measured, commented), badges,
//! levels, challenges, redemptions.

use chrono::{Duration, SecondsFormat, Utc};
use frontline::auth::Role;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::*;
use crate::notifications::inbox;

async fn kinds(app: &TestApp, member: Uuid) -> Vec<String> {
    inbox(app, member)
        .await
        .into_iter()
        .map(|r| r.kind)
        .collect()
}

async fn submit(app: &TestApp, who: &Actor, contributors: &[Uuid]) -> Uuid {
    let mut body = win("Same-day callback");
    body["contributors"] = json!(contributors);
    let r = app.post("/api/v1/initiatives", &who.token, body).await;
    assert_eq!(r.status.code, 201, "{}", r.text);
    id_of(&r.body)
}

async fn act(app: &TestApp, who: &Actor, id: Uuid, verb: &str, body: Value) {
    let r = app
        .post(
            &format!("/api/v1/initiatives/{id}/{verb}"),
            &who.token,
            body,
        )
        .await;
    assert_eq!(r.status.code, 200, "{verb}: {}", r.text);
}

fn measurement() -> Value {
    json!({ "kpi": "CSAT", "unit": "%", "baseline": 71.5, "result": 78.0,
            "measured_at": "2026-01-15T10:00:00Z" })
}

#[rocket::async_test]
async fn a_win_tells_its_approvers_then_its_author_and_contributors() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let support = app.team(&org, "Support").await;
    let sales = app.team(&org, "Sales").await;
    let lea = app.member(&org, "Lea", Role::TeamLead, Some(support)).await;
    let lars = app.member(&org, "Lars", Role::TeamLead, Some(sales)).await;
    let emma = app
        .member(&org, "Emma", Role::Employee, Some(support))
        .await;
    let pia = app.member(&org, "Pia", Role::Employee, Some(sales)).await;

    let id = submit(&app, &emma, &[pia.id]).await;
    assert_eq!(
        kinds(&app, lea.id).await,
        ["win.submitted"],
        "the team's lead"
    );
    assert!(kinds(&app, lars.id).await.is_empty(), "another team's lead");
    assert!(
        kinds(&app, org.admin.id).await.is_empty(),
        "the team has a lead"
    );
    assert!(kinds(&app, emma.id).await.is_empty());
    assert!(kinds(&app, pia.id).await.is_empty());

    act(&app, &lea, id, "approve", json!({})).await;
    act(&app, &lea, id, "implement", json!({})).await;
    act(&app, &lea, id, "measure", measurement()).await;
    for who in [&emma, &pia] {
        assert_eq!(
            kinds(&app, who.id).await,
            ["win.approved", "win.implemented", "win.measured"]
        );
    }
    assert_eq!(
        kinds(&app, lea.id).await,
        ["win.submitted"],
        "nothing of her own doing"
    );

    // Comments: the win's people, never the commenter.
    let path = format!("/api/v1/initiatives/{id}/comments");
    let r = app
        .post(&path, &pia.token, json!({ "body": "Nice one" }))
        .await;
    assert_eq!(r.status.code, 201, "{}", r.text);
    let r = app
        .post(&path, &lars.token, json!({ "body": "Well done" }))
        .await;
    assert_eq!(r.status.code, 201, "{}", r.text);
    let emma_kinds = kinds(&app, emma.id).await;
    assert_eq!(&emma_kinds[3..], ["win.commented", "win.commented"]);
    assert_eq!(kinds(&app, pia.id).await.last().unwrap(), "win.commented");
    assert_eq!(kinds(&app, pia.id).await.len(), 4, "Lars's comment only");
    assert!(kinds(&app, lars.id).await.is_empty());
    let shown = app.get("/api/v1/me/notifications", &emma.token).await;
    let newest = &shown.ok()["items"][0];
    assert_eq!(newest["subject"]["title"], "Same-day callback");
    assert_eq!(newest["actor"]["display_name"], "Lars");
    assert!(newest["data"]["comment_id"].is_string());

    // Declined: the author hears of it.
    let other = submit(&app, &emma, &[]).await;
    act(
        &app,
        &lea,
        other,
        "decline",
        json!({ "reason": "we already do this" }),
    )
    .await;
    assert_eq!(kinds(&app, emma.id).await.last().unwrap(), "win.declined");

    // A win of someone without a team (or whose team has no lead) waits for the admins.
    let hanna = app.member(&org, "Hanna", Role::Employee, None).await;
    submit(&app, &hanna, &[]).await;
    assert_eq!(kinds(&app, org.admin.id).await, ["win.submitted"]);
}

#[rocket::async_test]
async fn with_the_mandate_contributors_hear_their_win_was_approved() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    app.patch(
        "/api/v1/organisation",
        &org.admin.token,
        json!({ "mandate": true }),
    )
    .await
    .ok();
    let support = app.team(&org, "Support").await;
    let lea = app.member(&org, "Lea", Role::TeamLead, Some(support)).await;
    let emma = app
        .member(&org, "Emma", Role::Employee, Some(support))
        .await;
    let eric = app
        .member(&org, "Eric", Role::Employee, Some(support))
        .await;
    submit(&app, &emma, &[eric.id]).await;
    assert_eq!(kinds(&app, eric.id).await, ["win.approved"]);
    assert!(kinds(&app, emma.id).await.is_empty(), "her own doing");
    assert!(
        kinds(&app, lea.id).await.is_empty(),
        "nothing waits for her"
    );
}

#[rocket::async_test]
async fn a_badge_is_told_whatever_it_pays() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let support = app.team(&org, "Support").await;
    let lea = app.member(&org, "Lea", Role::TeamLead, Some(support)).await;
    let emma = app
        .member(&org, "Emma", Role::Employee, Some(support))
        .await;
    {
        use diesel_async::RunQueryDsl;
        let mut conn = app.db.conn().await;
        diesel::sql_query("UPDATE badges SET points = 0 WHERE key = 'first_win'")
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let id = submit(&app, &emma, &[]).await;
    act(&app, &lea, id, "approve", json!({})).await;
    assert_eq!(kinds(&app, emma.id).await, ["win.approved", "badge.earned"]);
    let shown = app.get("/api/v1/me/notifications", &emma.token).await;
    let badge = &shown.ok()["items"][0];
    assert_eq!(badge["subject"]["type"], "badge");
    assert_eq!(badge["subject"]["title"], "First win");
    assert_eq!(badge["actor"], Value::Null);
    // Approved again (another win): the badge is not earned twice.
    let again = submit(&app, &emma, &[]).await;
    act(&app, &lea, again, "approve", json!({})).await;
    assert_eq!(
        kinds(&app, emma.id).await,
        ["win.approved", "badge.earned", "win.approved"]
    );
}

#[rocket::async_test]
async fn a_level_is_reached_once_and_the_highest_crossed_is_told() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let adjust = async |points: i32| {
        app.post(
            "/api/v1/ledger/adjustments",
            &org.admin.token,
            json!({ "member_id": ana.id, "points": points, "reason": "levels" }),
        )
        .await
        .ok()["id"]
            .clone()
    };
    // 0 -> 550 crosses Contributor (100) and Advocate (500): Advocate is told.
    adjust(550).await;
    assert_eq!(kinds(&app, ana.id).await, ["level.reached"]);
    let shown = app.get("/api/v1/me/notifications", &ana.token).await;
    let level = &shown.ok()["items"][0];
    assert_eq!(level["subject"]["title"], "Advocate");
    assert_eq!(level["data"]["level_points"], 500);
    // Down below 500 and up again: not reached a second time.
    adjust(-100).await;
    adjust(100).await;
    assert_eq!(kinds(&app, ana.id).await, ["level.reached"]);
}

fn at(offset: Duration) -> String {
    (Utc::now() + offset).to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[rocket::async_test]
async fn a_completed_challenge_tells_every_rewarded_participant() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let cy = app.member(&org, "Cy", Role::Employee, None).await;
    let r = app
        .post(
            "/api/v1/challenges",
            &org.admin.token,
            json!({ "title": "Thank each other", "scope": "organisation",
                    "metric": "recognitions_received", "target": 2, "reward_points": 5,
                    "ends_at": at(Duration::days(30)) }),
        )
        .await;
    assert_eq!(r.status.code, 201, "{}", r.text);
    let challenge = id_of(&r.body);
    for to in [ben.id, cy.id] {
        let body = json!({ "recipients": [to], "message": "Thanks for that save", "points": 1 });
        app.post("/api/v1/recognitions", &ana.token, body)
            .await
            .ok();
    }
    // Completed by the fold, or by the first read that sees it reached: this one.
    app.get(&format!("/api/v1/challenges/{challenge}"), &ana.token)
        .await
        .ok();
    for who in [&ben, &cy] {
        let mine = inbox(&app, who.id).await;
        let done: Vec<_> = mine
            .iter()
            .filter(|r| r.kind == "challenge.completed")
            .collect();
        assert_eq!(done.len(), 1, "{mine:?}");
        assert_eq!(done[0].subject_id, challenge);
    }
    assert!(kinds(&app, ana.id).await.is_empty(), "Ana only gave");
}

#[rocket::async_test]
async fn a_redemption_s_changes_reach_its_member_unless_they_made_them() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    app.post(
        "/api/v1/ledger/adjustments",
        &org.admin.token,
        json!({ "member_id": ana.id, "points": 50, "reason": "rewards" }),
    )
    .await
    .ok();
    let r = app
        .post(
            "/api/v1/rewards/items",
            &org.admin.token,
            json!({ "title": "Lunch", "description": "On us", "point_cost": 10,
                    "stock": 5, "requires_approval": true }),
        )
        .await;
    assert_eq!(r.status.code, 201, "{}", r.text);
    let item = id_of(&r.body);
    let redeem = async || {
        let r = app
            .post_empty(
                &format!("/api/v1/rewards/items/{item}/redemptions"),
                &ana.token,
            )
            .await;
        assert_eq!(r.status.code, 201, "{}", r.text);
        id_of(&r.body)
    };
    let first = redeem().await;
    let second = redeem().await;
    let step = async |id: Uuid, verb: &str, token: &str, body: Value| {
        let r = app
            .post(
                &format!("/api/v1/rewards/redemptions/{id}/{verb}"),
                token,
                body,
            )
            .await;
        assert_eq!(r.status.code, 200, "{verb}: {}", r.text);
    };
    step(first, "approve", &org.admin.token, json!({})).await;
    step(first, "fulfil", &org.admin.token, json!({})).await;
    step(second, "cancel", &ana.token, json!({})).await;
    let mine: Vec<_> = inbox(&app, ana.id)
        .await
        .into_iter()
        .filter(|r| r.kind == "redemption.status_changed")
        .collect();
    assert_eq!(mine.len(), 2, "approved and fulfilled; not her own cancel");
    assert!(mine.iter().all(|r| r.subject_id == first));
    let shown = app.get("/api/v1/me/notifications", &ana.token).await;
    let newest = &shown.ok()["items"][0];
    assert_eq!(newest["subject"]["title"], "Lunch");
    assert_eq!(newest["data"]["to"], "fulfilled");
}
