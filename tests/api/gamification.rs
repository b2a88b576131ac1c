//! Badges, levels, streaks and my progress.

use diesel_async::RunQueryDsl;
use frontline::auth::Role;
use rocket::http::{ContentType, Header, Status};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::*;

fn badge_keys(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|b| b["key"].as_str().unwrap().to_string())
        .collect()
}

async fn ledger(app: &TestApp, who: &Actor) -> Vec<Value> {
    app.get("/api/v1/me/points?limit=200", &who.token)
        .await
        .ok()["entries"]
        .as_array()
        .unwrap()
        .clone()
}

async fn recognise(app: &TestApp, from: &Actor, to: Uuid) {
    app.post(
        "/api/v1/recognitions",
        &from.token,
        json!({ "recipients": [to], "message": "thanks", "points": 1 }),
    )
    .await
    .ok();
}

#[rocket::async_test]
async fn every_organisation_starts_with_the_default_badges() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let r = app.get("/api/v1/badges", &ana.token).await;
    let keys = badge_keys(r.ok());
    for key in [
        "first_win",
        "ten_wins",
        "dimension_specialist",
        "first_measured",
        "well_recognised",
        "generous",
        "four_week_streak",
        "bridge_builder",
    ] {
        assert!(
            keys.contains(&key.to_string()),
            "{key} missing from {keys:?}"
        );
    }
}

#[rocket::async_test]
async fn a_first_approved_win_earns_the_first_win_badge_and_its_points_once() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let care = app.team(&org, "Care").await;
    let lead = app.member(&org, "Lara", Role::TeamLead, Some(care)).await;
    let ana = app.member(&org, "Ana", Role::Employee, Some(care)).await;
    let win = |title: &str| {
        json!({
            "title": title, "description": "Called the customer back", "dimension": "empathy",
            "channel": "phone", "journey_stage": "after", "customer_value": 4,
            "organisation_value": 3, "ease": 5
        })
    };
    for title in ["Call back", "Second call back"] {
        let r = app
            .post("/api/v1/initiatives", &ana.token, win(title))
            .await;
        let id = r.ok()["id"].as_str().unwrap().to_string();
        app.post(
            &format!("/api/v1/initiatives/{id}/approve"),
            &lead.token,
            json!({}),
        )
        .await
        .ok();
    }
    let badges = app
        .get(&format!("/api/v1/members/{}/badges", ana.id), &lead.token)
        .await;
    assert_eq!(badge_keys(badges.ok()), vec!["first_win"]);
    assert!(badges.body[0]["awarded_at"].is_string());
    let entries = ledger(&app, &ana).await;
    let badge_entries: Vec<&Value> = entries.iter().filter(|e| e["reason"] == "badge").collect();
    assert_eq!(badge_entries.len(), 1);
    assert_eq!(badge_entries[0]["points"], 10);
    assert_eq!(badge_entries[0]["source_type"], "badge");
    // The progress page shows it, and the balance is still the sum of the ledger.
    let progress = app.get("/api/v1/me/progress", &ana.token).await;
    let body = progress.ok();
    assert_eq!(badge_keys(&body["badges"]), vec!["first_win"]);
    let sum: i64 = entries.iter().map(|e| e["points"].as_i64().unwrap()).sum();
    assert_eq!(body["balance"], sum);
    assert_eq!(body["lifetime_points"], sum);
}

/// Twenty recognitions race past a badge's threshold: the badge and its points are granted
/// exactly once.
#[rocket::async_test]
async fn a_badge_is_awarded_exactly_once_under_concurrent_activity() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let r = app
        .post(
            "/api/v1/badges",
            &org.admin.token,
            json!({ "key": "popular", "name": "Popular", "criterion": "recognitions_received", "threshold": 3, "points": 7 }),
        )
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    let star = app.member(&org, "Star", Role::Employee, None).await;
    let mut fans = Vec::new();
    for i in 0..20 {
        fans.push(
            app.member(&org, &format!("Fan {i}"), Role::Employee, None)
                .await,
        );
    }
    let requests = fans.iter().map(|fan| {
        app.client
            .post("/api/v1/recognitions")
            .header(Header::new(
                "Authorization",
                format!("Bearer {}", fan.token),
            ))
            .header(ContentType::JSON)
            .body(
                json!({ "recipients": [star.id], "message": "you rock", "points": 2 }).to_string(),
            )
            .dispatch()
    });
    for r in futures::future::join_all(requests).await {
        assert_eq!(r.status(), Status::Created);
    }
    let badges = app
        .get(&format!("/api/v1/members/{}/badges", star.id), &star.token)
        .await;
    assert_eq!(badge_keys(badges.ok()), vec!["popular"]);
    let entries = ledger(&app, &star).await;
    assert_eq!(entries.iter().filter(|e| e["reason"] == "badge").count(), 1);
    let balance = app.get("/api/v1/me/points", &star.token).await.ok()["balance"].clone();
    assert_eq!(balance, 20 * 2 + 7);
}

#[rocket::async_test]
async fn admins_define_badges_and_others_may_not() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let body = json!({ "key": "empathy_ace", "name": "Empathy ace", "criterion": "initiatives_in_one_dimension",
                       "threshold": 3, "dimension": "empathy", "points": 5, "description": "Three empathy wins" });
    app.post("/api/v1/badges", &ana.token, body.clone())
        .await
        .problem(403);
    let r = app
        .post("/api/v1/badges", &org.admin.token, body.clone())
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    assert_eq!(r.body["dimension"], "empathy");
    let id = r.body["id"].as_str().unwrap().to_string();
    app.post("/api/v1/badges", &org.admin.token, body)
        .await
        .problem(409);
    for (bad, field) in [
        (
            json!({ "key": "Bad Key", "name": "x", "criterion": "recognitions_given" }),
            "key",
        ),
        (
            json!({ "key": "k", "name": "", "criterion": "recognitions_given" }),
            "name",
        ),
        (
            json!({ "key": "k", "name": "x", "criterion": "vibes" }),
            "criterion",
        ),
        (
            json!({ "key": "k", "name": "x", "criterion": "recognitions_given", "threshold": 0 }),
            "threshold",
        ),
        (
            json!({ "key": "k", "name": "x", "criterion": "recognitions_given", "points": -1 }),
            "points",
        ),
        (
            json!({ "key": "k", "name": "x", "criterion": "recognitions_given", "dimension": "trust" }),
            "dimension",
        ),
        (
            json!({ "key": "k", "name": "x", "criterion": "recognitions_given", "colour": "red" }),
            "colour",
        ),
    ] {
        app.post("/api/v1/badges", &org.admin.token, bad)
            .await
            .invalid_field(field);
    }
    // Deactivated badges disappear for members, stay for admins.
    let r = app
        .patch(
            &format!("/api/v1/badges/{id}"),
            &org.admin.token,
            json!({ "active": false }),
        )
        .await;
    assert_eq!(r.ok()["active"], false);
    assert!(
        !badge_keys(app.get("/api/v1/badges", &ana.token).await.ok())
            .contains(&"empathy_ace".to_string())
    );
    assert!(
        badge_keys(app.get("/api/v1/badges", &org.admin.token).await.ok())
            .contains(&"empathy_ace".to_string())
    );
    app.patch(
        &format!("/api/v1/badges/{id}"),
        &ana.token,
        json!({ "active": true }),
    )
    .await
    .problem(403);
    app.patch(
        &format!("/api/v1/badges/{id}"),
        &org.admin.token,
        json!({ "points": -5 }),
    )
    .await
    .invalid_field("points");
    let other = app.seed_org("other").await;
    app.patch(
        &format!("/api/v1/badges/{id}"),
        &other.admin.token,
        json!({ "active": true }),
    )
    .await
    .problem(404);
    app.get(
        &format!("/api/v1/members/{}/badges", ana.id),
        &other.admin.token,
    )
    .await
    .problem(404);
    app.get("/api/v1/members/nope/badges", &ana.token)
        .await
        .problem(404);
}

#[rocket::async_test]
async fn levels_follow_lifetime_points_and_admins_set_the_thresholds() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let levels = app.get("/api/v1/organisation/levels", &ana.token).await;
    assert_eq!(
        levels.ok()["levels"][0],
        json!({ "name": "Newcomer", "points": 0 })
    );
    app.put(
        "/api/v1/organisation/levels",
        &ana.token,
        json!({ "levels": [{ "name": "Rookie", "points": 0 }] }),
    )
    .await
    .problem(403);
    for (bad, field) in [
        (json!({ "levels": [] }), "levels"),
        (
            json!({ "levels": [{ "name": "A", "points": 10 }] }),
            "levels[0].points",
        ),
        (
            json!({ "levels": [{ "name": "A", "points": 0 }, { "name": "B", "points": 0 }] }),
            "levels[1].points",
        ),
        (
            json!({ "levels": [{ "name": "A", "points": 0 }, { "name": "a", "points": 5 }] }),
            "levels[1].name",
        ),
        (
            json!({ "levels": [{ "name": "A", "points": 0, "colour": "red" }] }),
            "levels[0].colour",
        ),
        // PostgreSQL refuses NUL in text: a 422 naming the field, not a 500.
        (
            json!({ "levels": [{ "name": "A\u{0}B", "points": 0 }] }),
            "levels[0].name",
        ),
        (
            json!({ "levels": [{ "name": "", "points": 0 }] }),
            "levels[0].name",
        ),
    ] {
        app.put("/api/v1/organisation/levels", &org.admin.token, bad)
            .await
            .invalid_field(field);
    }
    app.put(
        "/api/v1/organisation/levels",
        &org.admin.token,
        json!({ "levels": [{ "name": "Rookie", "points": 0 }, { "name": "Pro", "points": 40 }, { "name": "Hero", "points": 100 }] }),
    )
    .await
    .ok();
    app.post(
        "/api/v1/ledger/adjustments",
        &org.admin.token,
        json!({ "member_id": ana.id, "points": 70, "reason": "welcome" }),
    )
    .await
    .ok();
    let p = app.get("/api/v1/me/progress", &ana.token).await;
    let level = &p.ok()["level"];
    assert_eq!(level["current"]["name"], "Pro");
    assert_eq!(level["number"], 2);
    assert_eq!(level["next"]["name"], "Hero");
    assert_eq!(level["points_to_next"], 30);
    assert_eq!(level["percent_to_next"], 50.0);
}

/// Backdated activity: a recognition given in each of the last four weeks.
async fn give_in_past_weeks(app: &TestApp, org: &Org, giver: Uuid, to: Uuid, weeks: &[i64]) {
    let mut conn = app.db.conn().await;
    for w in weeks {
        diesel::sql_query(
            "INSERT INTO recognitions (organisation_id, giver_id, kind, message, points_each, created_at) \
             VALUES ($1, $2, 'peer', 'thanks', 1, now() - make_interval(weeks => $3::int))",
        )
        .bind::<diesel::sql_types::Uuid, _>(org.id)
        .bind::<diesel::sql_types::Uuid, _>(giver)
        .bind::<diesel::sql_types::BigInt, _>(*w)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    let _ = to;
}

#[rocket::async_test]
async fn weekly_streaks_count_consecutive_active_weeks_and_earn_their_badge() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    // Active 1, 2 and 3 weeks ago, and 6 weeks ago.
    give_in_past_weeks(&app, &org, ana.id, ben.id, &[1, 2, 3, 6]).await;
    let p = app.get("/api/v1/me/progress", &ana.token).await;
    let streaks = &p.ok()["streaks"];
    assert_eq!(streaks["current_weeks"], 3);
    assert_eq!(streaks["longest_weeks"], 3);
    assert_eq!(streaks["active_this_week"], false);
    // Recognising someone this week makes it four in a row, which earns "On a roll".
    recognise(&app, &ana, ben.id).await;
    let p = app.get("/api/v1/me/progress", &ana.token).await;
    let body = p.ok();
    assert_eq!(body["streaks"]["current_weeks"], 4);
    assert_eq!(body["streaks"]["active_this_week"], true);
    assert!(badge_keys(&body["badges"]).contains(&"four_week_streak".to_string()));
}

/// Counts stop at the highest threshold still to reach (see `gamification::earning`): each
/// badge still comes exactly at its threshold, with two badges of one criterion at different
/// thresholds, for the giver and the recipient of one recognition, and for lifetime points
/// that include the recognition being written.
#[rocket::async_test]
async fn count_badges_come_exactly_at_their_thresholds() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    for (key, criterion, threshold) in [
        ("gave_two", "recognitions_given", 2),
        ("gave_three", "recognitions_given", 3),
        ("got_three", "recognitions_received", 3),
        ("four_points", "lifetime_points", 4),
        // Out of reach: counted back a century at most, never to a date before the calendar.
        ("forever", "weekly_streak", 1_000_000),
        ("never_given", "recognitions_given", 1_000_000),
    ] {
        app.post(
            "/api/v1/badges",
            &org.admin.token,
            json!({ "key": key, "name": key, "criterion": criterion, "threshold": threshold, "points": 0 }),
        )
        .await
        .ok();
    }
    let held = async |who: &Actor| -> Vec<String> {
        let r = app
            .get(&format!("/api/v1/members/{}/badges", who.id), &who.token)
            .await;
        let mut keys = badge_keys(r.ok());
        keys.sort();
        keys
    };
    let expected: [(&[&str], &[&str]); 4] = [
        (&[], &[]),
        (&["gave_two"], &[]),
        (&["gave_three", "gave_two"], &["got_three"]),
        (&["gave_three", "gave_two"], &["four_points", "got_three"]),
    ];
    for (ana_holds, ben_holds) in expected {
        recognise(&app, &ana, ben.id).await;
        assert_eq!(held(&ana).await, ana_holds);
        assert_eq!(held(&ben).await, ben_holds);
    }
}
