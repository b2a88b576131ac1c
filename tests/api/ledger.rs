//! The points ledger: immutability, reversals, adjustments, point rules, and the rule that
//! every balance shown anywhere is the sum of the ledger.

use diesel_async::RunQueryDsl;
use frontline::auth::Role;
use rocket::http::{ContentType, Header, Status};
use serde_json::{Value, json};

use crate::common::*;

#[rocket::async_test]
async fn the_database_refuses_to_update_or_delete_ledger_entries() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    app.post(
        "/api/v1/ledger/adjustments",
        &org.admin.token,
        json!({ "member_id": ana.id, "points": 50, "reason": "welcome bonus" }),
    )
    .await
    .ok();
    let mut conn = app.db.conn().await;
    // (A plain TRUNCATE is refused before the trigger runs, since `redemptions` refers to the
    // ledger; with CASCADE it reaches the trigger.)
    for sql in [
        "UPDATE ledger_entries SET points = 5000",
        "DELETE FROM ledger_entries",
        "TRUNCATE ledger_entries CASCADE",
    ] {
        let err = diesel::sql_query(sql).execute(&mut conn).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    let err = diesel::sql_query("TRUNCATE ledger_entries")
        .execute(&mut conn)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot truncate"), "{err}");
    let points = app.get("/api/v1/me/points", &ana.token).await;
    assert_eq!(points.ok()["balance"], 50);
}

#[rocket::async_test]
async fn admins_reverse_an_entry_once_with_a_reason() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    app.post(
        "/api/v1/recognitions",
        &ben.token,
        json!({ "recipients": [ana.id], "message": "great call", "points": 30, "dimension": "trust" }),
    )
    .await
    .ok();
    let points = app.get("/api/v1/me/points", &ana.token).await;
    let entry = points.ok()["entries"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let path = format!("/api/v1/ledger/{entry}/reverse");
    app.post(&path, &org.admin.token, json!({}))
        .await
        .invalid_field("reason");
    app.post(&path, &ana.token, json!({ "reason": "mine" }))
        .await
        .problem(403);
    let r = app
        .post(
            &path,
            &org.admin.token,
            json!({ "reason": "sent to the wrong Ana" }),
        )
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    assert_eq!(r.body["points"], -30);
    assert_eq!(r.body["reason"], "reversal");
    assert_eq!(r.body["reverses"], entry);
    assert_eq!(r.body["dimension"], "trust");
    assert_eq!(r.body["note"], "sent to the wrong Ana");
    assert_eq!(r.body["created_by"], org.admin.id.to_string());
    let reversal = r.body["id"].as_str().unwrap().to_string();

    app.post(&path, &org.admin.token, json!({ "reason": "again" }))
        .await
        .problem(409);
    app.post(
        &format!("/api/v1/ledger/{reversal}/reverse"),
        &org.admin.token,
        json!({ "reason": "undo" }),
    )
    .await
    .problem(409);
    let other = app.seed_org("other").await;
    app.post(&path, &other.admin.token, json!({ "reason": "x" }))
        .await
        .problem(404);
    app.post(
        "/api/v1/ledger/nope/reverse",
        &org.admin.token,
        json!({ "reason": "x" }),
    )
    .await
    .problem(404);

    let points = app.get("/api/v1/me/points", &ana.token).await;
    assert_eq!(points.ok()["balance"], 0);
    assert_eq!(points.body["entries"].as_array().unwrap().len(), 2);
}

#[rocket::async_test]
async fn adjustments_are_admin_only_validated_and_idempotent() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let other = app.seed_org("other").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let hr = app.member(&org, "Hana", Role::Hr, None).await;
    let stranger = app.member(&other, "Stranger", Role::Employee, None).await;
    let path = "/api/v1/ledger/adjustments";
    app.post(
        path,
        &hr.token,
        json!({ "member_id": ana.id, "points": 5, "reason": "x" }),
    )
    .await
    .problem(403);
    app.post(
        path,
        &org.admin.token,
        json!({ "member_id": ana.id, "points": 0, "reason": "x" }),
    )
    .await
    .invalid_field("points");
    app.post(
        path,
        &org.admin.token,
        json!({ "member_id": ana.id, "points": 5 }),
    )
    .await
    .invalid_field("reason");
    app.post(
        path,
        &org.admin.token,
        json!({ "member_id": stranger.id, "points": 5, "reason": "x" }),
    )
    .await
    .invalid_field("member_id");
    app.post(
        path,
        &org.admin.token,
        json!({ "member_id": "nope", "points": 5, "reason": "x" }),
    )
    .await
    .invalid_field("member_id");

    let send = || {
        app.client
            .post(path)
            .header(Header::new(
                "Authorization",
                format!("Bearer {}", org.admin.token),
            ))
            .header(Header::new("Idempotency-Key", "adj-1"))
            .header(ContentType::JSON)
            .body(
                json!({ "points": -7, "reason": "double counted", "member_id": ana.id })
                    .to_string(),
            )
            .dispatch()
    };
    let first = read(send().await).await;
    assert_eq!(first.status, Status::Created, "{}", first.text);
    let second = read(send().await).await;
    assert_eq!(second.status, Status::Created);
    assert_eq!(second.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(first.body, second.body);
    let points = app.get("/api/v1/me/points", &ana.token).await;
    assert_eq!(points.ok()["balance"], -7);
}

#[rocket::async_test]
async fn point_rules_are_readable_by_all_and_changed_by_admins_within_bounds() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let r = app
        .get("/api/v1/organisation/point-rules", &ana.token)
        .await;
    let rules = r.ok();
    assert_eq!(rules["peer_monthly_allowance"], 100);
    assert_eq!(rules["initiative_approved"], 10);
    app.patch(
        "/api/v1/organisation/point-rules",
        &ana.token,
        json!({ "contributor": 1 }),
    )
    .await
    .problem(403);
    app.patch(
        "/api/v1/organisation/point-rules",
        &org.admin.token,
        json!({ "contributor": -1, "max_points_per_recognition": 0 }),
    )
    .await
    .invalid_field("max_points_per_recognition");
    app.patch(
        "/api/v1/organisation/point-rules",
        &org.admin.token,
        json!({ "bonus": 1 }),
    )
    .await
    .invalid_field("bonus");
    let r = app
        .patch(
            "/api/v1/organisation/point-rules",
            &org.admin.token,
            json!({ "peer_monthly_allowance": 250 }),
        )
        .await;
    assert_eq!(r.ok()["peer_monthly_allowance"], 250);
    assert_eq!(r.body["initiative_approved"], 10);
    // Each organisation has its own rules.
    let other = app.seed_org("other").await;
    let r = app
        .get("/api/v1/organisation/point-rules", &other.admin.token)
        .await;
    assert_eq!(r.ok()["peer_monthly_allowance"], 100);
}

#[rocket::async_test]
async fn member_points_are_visible_to_admins_hr_their_lead_and_themselves_only() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let care = app.team(&org, "Care").await;
    let store = app.team(&org, "Store").await;
    let ana = app.member(&org, "Ana", Role::Employee, Some(care)).await;
    let ben = app.member(&org, "Ben", Role::Employee, Some(care)).await;
    let lead = app.member(&org, "Lara", Role::TeamLead, Some(care)).await;
    let other_lead = app.member(&org, "Olle", Role::TeamLead, Some(store)).await;
    let hr = app.member(&org, "Hana", Role::Hr, None).await;
    // Adjustments alone, so the balance is exactly what the test pays (no badge joins in).
    without_badges(&app, &org).await;
    for (points, reason) in [(12, "welcome"), (-2, "typo")] {
        app.post(
            "/api/v1/ledger/adjustments",
            &org.admin.token,
            json!({ "member_id": ana.id, "points": points, "reason": reason }),
        )
        .await
        .ok();
    }
    let path = format!("/api/v1/members/{}/points", ana.id);
    let r = app.get("/api/v1/me/points", &ana.token).await;
    assert_eq!(r.body["next_cursor"], Value::Null);
    let mine: Points = r.json();
    assert_eq!(mine.member_id, ana.id);
    assert_eq!(mine.balance, 10);
    let shown: Vec<_> = mine
        .entries
        .iter()
        .map(|e| (e.points, e.note.as_deref()))
        .collect();
    assert_eq!(
        shown,
        [(-2, Some("typo")), (12, Some("welcome"))],
        "newest first"
    );
    for e in &mine.entries {
        assert_eq!(e.member_id, ana.id);
        assert_eq!(e.reason, "adjustment");
        assert_eq!(e.created_by, Some(org.admin.id));
    }
    assert_eq!(mine.next_cursor, None);
    for who in [&ana, &lead, &hr, &org.admin] {
        let theirs: Points = app.get(&path, &who.token).await.json();
        assert_eq!(theirs, mine, "as seen by {}", who.id);
    }
    app.get(&path, &ben.token).await.problem(403);
    app.get(&path, &other_lead.token).await.problem(403);
    let other = app.seed_org("other").await;
    app.get(&path, &other.admin.token).await.problem(404);
    app.get(&format!("{path}?limit=999"), &ana.token)
        .await
        .invalid_field("limit");
    app.get(&format!("{path}?cursor=abc"), &ana.token)
        .await
        .invalid_field("cursor");
}

/// After mixed activity, every balance the API shows equals the sum of that member's ledger
/// entries in the database, and the ledger's grand total equals what recognitions and
/// adjustments granted.
#[rocket::async_test]
async fn every_balance_shown_is_the_sum_of_the_ledger_after_mixed_activity() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let care = app.team(&org, "Care").await;
    let lead = app.member(&org, "Lara", Role::TeamLead, Some(care)).await;
    let mut staff = Vec::new();
    for name in ["Ana", "Ben", "Cy", "Di", "Eve"] {
        staff.push(app.member(&org, name, Role::Employee, Some(care)).await);
    }
    let mut granted = 0i64;
    for (i, giver) in staff.iter().enumerate() {
        let to = &staff[(i + 1) % staff.len()];
        let r = app
            .post(
                "/api/v1/recognitions",
                &giver.token,
                json!({ "recipients": [to.id], "message": "thanks", "points": 7 + i }),
            )
            .await;
        r.ok();
        granted += 7 + i as i64;
    }
    let everyone: Vec<_> = staff.iter().map(|s| s.id).collect();
    app.post(
        "/api/v1/recognitions",
        &lead.token,
        json!({ "recipients": everyone, "message": "team of the month", "points": 20 }),
    )
    .await
    .ok();
    granted += 20 * 5;
    let r = app
        .post(
            "/api/v1/ledger/adjustments",
            &org.admin.token,
            json!({ "member_id": staff[0].id, "points": -3, "reason": "typo" }),
        )
        .await;
    r.ok();
    granted -= 3;
    let entry = app.get("/api/v1/me/points", &staff[2].token).await.ok()["entries"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let reversal = app
        .post(
            &format!("/api/v1/ledger/{entry}/reverse"),
            &org.admin.token,
            json!({ "reason": "duplicate" }),
        )
        .await;
    granted += reversal.ok()["points"].as_i64().unwrap();

    #[derive(diesel::QueryableByName)]
    struct Sum {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        total: i64,
    }
    let mut conn = app.db.conn().await;
    let mut shown_total = 0;
    for s in &staff {
        let mine = app.get("/api/v1/me/points?limit=200", &s.token).await.ok()["balance"]
            .as_i64()
            .unwrap();
        let as_admin = app
            .get(
                &format!("/api/v1/members/{}/points", s.id),
                &org.admin.token,
            )
            .await
            .ok()["balance"]
            .as_i64()
            .unwrap();
        let entries: i64 = app.get("/api/v1/me/points?limit=200", &s.token).await.body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["points"].as_i64().unwrap())
            .sum();
        let in_db: Sum = diesel::sql_query("SELECT COALESCE(SUM(points), 0)::bigint AS total FROM ledger_entries WHERE member_id = $1")
            .bind::<diesel::sql_types::Uuid, _>(s.id)
            .get_result(&mut conn)
            .await
            .unwrap();
        assert_eq!(mine, in_db.total);
        assert_eq!(as_admin, in_db.total);
        assert_eq!(entries, in_db.total);
        shown_total += mine;
    }
    let all: Sum =
        diesel::sql_query("SELECT COALESCE(SUM(points), 0)::bigint AS total FROM ledger_entries")
            .get_result(&mut conn)
            .await
            .unwrap();
    assert_eq!(all.total, granted);
    assert_eq!(shown_total, granted);
}
