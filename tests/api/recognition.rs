//! Recognition: giving from allowances and budgets, the races that must not create or lose a
//! point, idempotent retries, the feed and reactions.

use frontline::auth::Role;
use rocket::http::{ContentType, Header, Status};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::*;

async fn set_rules(app: &TestApp, org: &Org, rules: Value) {
    app.patch("/api/v1/organisation/point-rules", &org.admin.token, rules)
        .await
        .ok();
}

fn recognise(to: &[Uuid], points: i32) -> Value {
    json!({ "recipients": to, "message": "Thank you for calming that customer down", "points": points, "dimension": "empathy" })
}

/// Noon on a Wednesday in the middle of a month in Oslo: a test of allowances, budgets and daily
/// caps means the same whenever it runs (a run across local midnight would start a new day).
fn mid_month(app: &TestApp) {
    use chrono::TimeZone;
    let noon = chrono_tz::Europe::Oslo
        .with_ymd_and_hms(2026, 11, 18, 12, 0, 0)
        .unwrap();
    app.clock.set(noon.with_timezone(&chrono::Utc));
}

async fn balance(app: &TestApp, who: &Actor) -> i64 {
    app.get("/api/v1/me/points?limit=200", &who.token)
        .await
        .ok()["balance"]
        .as_i64()
        .unwrap()
}

#[rocket::async_test]
async fn a_peer_recognises_a_colleague_and_the_points_land_in_the_ledger() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let team = app.team(&org, "Care").await;
    let ana = app.member(&org, "Ana", Role::Employee, Some(team)).await;
    let ben = app.member(&org, "Ben", Role::Employee, Some(team)).await;

    let r = app
        .post("/api/v1/recognitions", &ana.token, recognise(&[ben.id], 15))
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    assert_eq!(r.body["kind"], "peer");
    assert_eq!(r.body["giver"]["id"], ana.id.to_string());
    assert_eq!(r.body["recipients"][0]["display_name"], "Ben");
    assert_eq!(r.body["total_points"], 15);
    assert_eq!(r.body["dimension"], "empathy");

    let points: Points = app.get("/api/v1/me/points", &ben.token).await.json();
    assert_eq!(points.balance, 15);
    let entry = &points.entries[0];
    assert_eq!(entry.reason, "recognition_received");
    assert_eq!(entry.source_type.as_deref(), Some("recognition"));
    assert_eq!(entry.source_id, Some(id_of(&r.body)));
    assert_eq!(entry.team_id, Some(team));

    let mine: Points = app.get("/api/v1/me/points", &ana.token).await.json();
    let allowance = mine.allowance.clone().expect("a peer has an allowance");
    assert_eq!(allowance.kind, "peer");
    assert_eq!(allowance.granted, 100);
    assert_eq!(allowance.spent, 15);
    assert_eq!(allowance.remaining, 85);
    assert_eq!(
        mine.balance, 0,
        "giving costs allowance, not one's own points"
    );
}

#[rocket::async_test]
async fn recognition_refuses_self_duplicates_strangers_and_bad_values() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let other = app.seed_org("other").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let stranger = app.member(&other, "Stranger", Role::Employee, None).await;

    app.post("/api/v1/recognitions", &ana.token, recognise(&[ana.id], 5))
        .await
        .invalid_field("recipients[0]");
    app.post(
        "/api/v1/recognitions",
        &ana.token,
        recognise(&[ben.id, ben.id], 5),
    )
    .await
    .invalid_field("recipients[1]");
    app.post(
        "/api/v1/recognitions",
        &ana.token,
        recognise(&[ben.id, stranger.id], 5),
    )
    .await
    .invalid_field("recipients[1]");
    app.post("/api/v1/recognitions", &ana.token, recognise(&[], 5))
        .await
        .invalid_field("recipients");
    app.post("/api/v1/recognitions", &ana.token, recognise(&[ben.id], 0))
        .await
        .invalid_field("points");
    app.post(
        "/api/v1/recognitions",
        &ana.token,
        recognise(&[ben.id], 101),
    )
    .await
    .invalid_field("points");
    let mut bad = recognise(&[ben.id], 5);
    bad["dimension"] = json!("speed");
    app.post("/api/v1/recognitions", &ana.token, bad)
        .await
        .invalid_field("dimension");
    let mut bad = recognise(&[ben.id], 5);
    bad["initiative_id"] = json!(Uuid::new_v4());
    app.post("/api/v1/recognitions", &ana.token, bad)
        .await
        .invalid_field("initiative_id");
    let mut bad = recognise(&[ben.id], 5);
    bad["message"] = json!("   ");
    app.post("/api/v1/recognitions", &ana.token, bad)
        .await
        .invalid_field("message");
    let mut bad = recognise(&[ben.id], 5);
    bad["bonus"] = json!(true);
    app.post("/api/v1/recognitions", &ana.token, bad)
        .await
        .invalid_field("bonus");

    // A deactivated colleague cannot be recognised.
    app.post_empty(
        &format!("/api/v1/members/{}/deactivate", ben.id),
        &org.admin.token,
    )
    .await
    .ok();
    app.post("/api/v1/recognitions", &ana.token, recognise(&[ben.id], 5))
        .await
        .invalid_field("recipients[0]");
    // Nothing above granted a point or spent allowance.
    let mine = app.get("/api/v1/me/points", &ana.token).await;
    assert_eq!(mine.ok()["allowance"]["spent"], 0);
}

#[rocket::async_test]
async fn the_allowance_and_daily_cap_refuse_with_409_and_grant_nothing() {
    let app = TestApp::new().await;
    mid_month(&app);
    let org = app.seed_org("acme").await;
    set_rules(
        &app,
        &org,
        json!({ "peer_monthly_allowance": 60, "peer_daily_cap_per_recipient": 30 }),
    )
    .await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let cy = app.member(&org, "Cy", Role::Employee, None).await;

    app.post("/api/v1/recognitions", &ana.token, recognise(&[ben.id], 20))
        .await
        .ok();
    // 20 + 15 > 30 for Ben today.
    let r = app
        .post("/api/v1/recognitions", &ana.token, recognise(&[ben.id], 15))
        .await;
    r.problem(409);
    assert_eq!(r.body["daily_cap"], 30);
    app.post("/api/v1/recognitions", &ana.token, recognise(&[cy.id], 30))
        .await
        .ok();
    // 50 of 60 spent: 2 x 10 = 20 is too much.
    let r = app
        .post(
            "/api/v1/recognitions",
            &ana.token,
            recognise(&[ben.id, cy.id], 10),
        )
        .await;
    r.problem(409);
    assert_eq!(r.body["remaining"], 10);
    assert!(r.body["resets_at"].is_string());
    assert_eq!(balance(&app, &ben).await, 20);
    assert_eq!(balance(&app, &cy).await, 30);
    let mine = app.get("/api/v1/me/points", &ana.token).await;
    assert_eq!(mine.ok()["allowance"]["remaining"], 10);
}

#[rocket::async_test]
async fn team_leads_give_from_a_budget_the_admin_sets_and_admins_are_unbudgeted() {
    let app = TestApp::new().await;
    mid_month(&app);
    let org = app.seed_org("acme").await;
    let team = app.team(&org, "Care").await;
    let lead = app
        .member(&org, "Lara Lead", Role::TeamLead, Some(team))
        .await;
    let ana = app.member(&org, "Ana", Role::Employee, Some(team)).await;
    let ben = app.member(&org, "Ben", Role::Employee, Some(team)).await;

    let r = app
        .put(
            &format!("/api/v1/members/{}/recognition-budget", lead.id),
            &org.admin.token,
            json!({ "monthly_points": 150 }),
        )
        .await;
    assert_eq!(r.ok()["monthly_points"], 150);
    let r = app
        .post(
            "/api/v1/recognitions",
            &lead.token,
            recognise(&[ana.id, ben.id], 70),
        )
        .await;
    assert_eq!(r.ok()["kind"], "lead");
    let r = app
        .post(
            "/api/v1/recognitions",
            &lead.token,
            recognise(&[ana.id], 20),
        )
        .await;
    r.problem(409);
    let mine = app.get("/api/v1/me/points", &lead.token).await;
    let allowance = &mine.ok()["allowance"];
    assert_eq!(allowance["kind"], "lead");
    assert_eq!(allowance["granted"], 150);
    assert_eq!(allowance["remaining"], 10);

    // Admins give without a budget.
    for _ in 0..3 {
        let r = app
            .post(
                "/api/v1/recognitions",
                &org.admin.token,
                recognise(&[ana.id], 100),
            )
            .await;
        assert_eq!(r.ok()["kind"], "admin");
    }
    assert!(app.get("/api/v1/me/points", &org.admin.token).await.ok()["allowance"].is_null());
    assert_eq!(balance(&app, &ana).await, 70 + 300);

    // Budgets are for team leads, set by admins, within bounds, in the organisation.
    app.put(
        &format!("/api/v1/members/{}/recognition-budget", ana.id),
        &org.admin.token,
        json!({ "monthly_points": 10 }),
    )
    .await
    .problem(409);
    app.put(
        &format!("/api/v1/members/{}/recognition-budget", lead.id),
        &lead.token,
        json!({ "monthly_points": 10 }),
    )
    .await
    .problem(403);
    app.put(
        &format!("/api/v1/members/{}/recognition-budget", lead.id),
        &org.admin.token,
        json!({ "monthly_points": -1 }),
    )
    .await
    .invalid_field("monthly_points");
    let other = app.seed_org("other").await;
    app.put(
        &format!("/api/v1/members/{}/recognition-budget", lead.id),
        &other.admin.token,
        json!({ "monthly_points": 10 }),
    )
    .await
    .problem(404);
}

/// The acceptance race: 200 concurrent recognitions from one member against an allowance that
/// pays for 10. Exactly 10 succeed, and the ledger and the allowance agree.
#[rocket::async_test]
async fn two_hundred_racing_recognitions_against_an_allowance_for_ten() {
    let app = TestApp::new().await;
    mid_month(&app);
    let org = app.seed_org("acme").await;
    set_rules(
        &app,
        &org,
        json!({ "peer_monthly_allowance": 100, "peer_daily_cap_per_recipient": 1000000 }),
    )
    .await;
    let giver = app.member(&org, "Giver", Role::Employee, None).await;
    let mut recipients = Vec::new();
    for name in ["Ana", "Ben", "Cy", "Di"] {
        recipients.push(app.member(&org, name, Role::Employee, None).await);
    }
    let requests = (0..200).map(|i| {
        let to = recipients[i % recipients.len()].id;
        app.client
            .post("/api/v1/recognitions")
            .header(Header::new(
                "Authorization",
                format!("Bearer {}", giver.token),
            ))
            .header(ContentType::JSON)
            .body(recognise(&[to], 10).to_string())
            .dispatch()
    });
    let responses = futures::future::join_all(requests).await;
    let mut created = 0;
    let mut refused = 0;
    for r in responses {
        match r.status() {
            Status::Created => created += 1,
            Status::Conflict => refused += 1,
            other => panic!("unexpected {other}: {:?}", r.into_string().await),
        }
    }
    assert_eq!((created, refused), (10, 190));

    let mut received = 0;
    for who in &recipients {
        received += balance(&app, who).await;
    }
    assert_eq!(received, 100, "the ledger holds exactly what was paid for");
    let allowance = app.get("/api/v1/me/points", &giver.token).await.ok()["allowance"].clone();
    assert_eq!(allowance["spent"], 100);
    assert_eq!(allowance["remaining"], 0);
    let feed = app
        .get("/api/v1/recognitions?limit=200", &org.admin.token)
        .await;
    assert_eq!(feed.ok()["items"].as_array().unwrap().len(), 10);
}

/// 50 concurrent identical requests with one Idempotency-Key create one recognition.
#[rocket::async_test]
async fn fifty_racing_retries_with_one_key_create_one_entry() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let giver = app.member(&org, "Giver", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let body = recognise(&[ben.id], 10).to_string();
    let requests = (0..50).map(|_| {
        app.client
            .post("/api/v1/recognitions")
            .header(Header::new(
                "Authorization",
                format!("Bearer {}", giver.token),
            ))
            .header(Header::new("Idempotency-Key", "retry-7f1c"))
            .header(ContentType::JSON)
            .body(body.clone())
            .dispatch()
    });
    let responses = futures::future::join_all(requests).await;
    let mut bodies = Vec::new();
    let mut replayed = 0;
    for r in responses {
        let r = read(r).await;
        assert_eq!(r.status, Status::Created, "{}", r.text);
        if r.header("Idempotent-Replayed") == Some("true") {
            replayed += 1;
        }
        bodies.push(r.body);
    }
    assert_eq!(replayed, 49);
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "every retry sees the first response"
    );
    let points = app.get("/api/v1/me/points", &ben.token).await;
    assert_eq!(points.ok()["balance"], 10);
    assert_eq!(points.body["entries"].as_array().unwrap().len(), 1);
    let allowance = app.get("/api/v1/me/points", &giver.token).await.ok()["allowance"].clone();
    assert_eq!(allowance["spent"], 10);
}

#[rocket::async_test]
async fn a_reused_key_with_another_body_is_refused() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let giver = app.member(&org, "Giver", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let send = |points: i32, key: &'static str| {
        app.client
            .post("/api/v1/recognitions")
            .header(Header::new(
                "Authorization",
                format!("Bearer {}", giver.token),
            ))
            .header(Header::new("Idempotency-Key", key))
            .header(ContentType::JSON)
            .body(recognise(&[ben.id], points).to_string())
            .dispatch()
    };
    assert_eq!(read(send(10, "k-1").await).await.status, Status::Created);
    read(send(11, "k-1").await)
        .await
        .invalid_field("Idempotency-Key");
    read(send(10, "").await)
        .await
        .invalid_field("Idempotency-Key");
    // Keys are per member: another giver's key does not collide.
    assert_eq!(read(send(10, "k-2").await).await.status, Status::Created);
    assert_eq!(balance(&app, &ben).await, 20);
}

#[rocket::async_test]
async fn the_feed_is_newest_first_paginated_and_filterable_by_team_and_member() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let care = app.team(&org, "Care").await;
    let store = app.team(&org, "Store").await;
    let ana = app.member(&org, "Ana", Role::Employee, Some(care)).await;
    let ben = app.member(&org, "Ben", Role::Employee, Some(store)).await;
    let cy = app.member(&org, "Cy", Role::Employee, Some(store)).await;
    let mut ids = Vec::new();
    for (from, to) in [
        (&ana, &ben),
        (&ben, &ana),
        (&cy, &ben),
        (&ana, &cy),
        (&ben, &cy),
    ] {
        let r = app
            .post("/api/v1/recognitions", &from.token, recognise(&[to.id], 5))
            .await;
        ids.push(r.ok()["id"].as_str().unwrap().to_string());
    }
    ids.reverse();
    let (items, _) = all_pages(&app, "/api/v1/recognitions?limit=2", "items", &ana.token).await;
    let seen: Vec<String> = items
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, ids, "newest first, every one once");

    let store_feed = app
        .get(&format!("/api/v1/recognitions?team_id={store}"), &ana.token)
        .await;
    assert_eq!(store_feed.ok()["items"].as_array().unwrap().len(), 4);
    let ana_feed = app
        .get(
            &format!("/api/v1/recognitions?member_id={}", ana.id),
            &cy.token,
        )
        .await;
    assert_eq!(ana_feed.ok()["items"].as_array().unwrap().len(), 3);
    app.get("/api/v1/recognitions?team_id=nope", &ana.token)
        .await
        .invalid_field("team_id");
    app.get("/api/v1/recognitions?limit=0", &ana.token)
        .await
        .invalid_field("limit");
    app.get("/api/v1/recognitions?cursor=%%%", &ana.token)
        .await
        .problem(422);
    // Another organisation sees none of it.
    let other = app.seed_org("other").await;
    let feed = app.get("/api/v1/recognitions", &other.admin.token).await;
    assert!(feed.ok()["items"].as_array().unwrap().is_empty());
}

#[rocket::async_test]
async fn members_react_once_per_kind_and_can_take_it_back() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let r = app
        .post("/api/v1/recognitions", &ana.token, recognise(&[ben.id], 5))
        .await;
    let id = r.ok()["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/recognitions/{id}/reactions");

    let r = app
        .post(&path, &ben.token, json!({ "kind": "heart" }))
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    assert_eq!(
        r.body["reactions"][0],
        json!({ "kind": "heart", "count": 1, "mine": true })
    );
    app.post(&path, &ben.token, json!({ "kind": "heart" }))
        .await
        .problem(409);
    app.post(&path, &ben.token, json!({ "kind": "applause" }))
        .await
        .ok();
    app.post(&path, &org.admin.token, json!({ "kind": "heart" }))
        .await
        .ok();
    let r = app
        .get(&format!("/api/v1/recognitions/{id}"), &ana.token)
        .await;
    let reactions = r.ok()["reactions"].as_array().unwrap().clone();
    assert_eq!(reactions.len(), 2);
    let heart = reactions.iter().find(|x| x["kind"] == "heart").unwrap();
    assert_eq!(heart["count"], 2);
    assert_eq!(heart["mine"], false);
    app.post(&path, &ben.token, json!({ "kind": "thumbs" }))
        .await
        .invalid_field("kind");

    let r = app
        .request(
            rocket::http::Method::Delete,
            &format!("{path}/heart"),
            Some(&ben.token),
            None,
        )
        .await;
    assert_eq!(r.status, Status::NoContent);
    app.request(
        rocket::http::Method::Delete,
        &format!("{path}/heart"),
        Some(&ben.token),
        None,
    )
    .await
    .problem(404);

    let other = app.seed_org("other").await;
    app.post(&path, &other.admin.token, json!({ "kind": "heart" }))
        .await
        .problem(404);
    app.get(&format!("/api/v1/recognitions/{id}"), &other.admin.token)
        .await
        .problem(404);
    app.request(
        rocket::http::Method::Delete,
        &format!("{path}/applause"),
        Some(&other.admin.token),
        None,
    )
    .await
    .problem(404);
    app.get("/api/v1/recognitions/not-an-id", &ana.token)
        .await
        .problem(404);
}
