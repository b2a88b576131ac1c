//! Privacy and oversight: my data, erasure, the audit log and API keys.

use diesel_async::RunQueryDsl;
use frontline::auth::Role;
use rocket::http::{Header, Status};
use serde_json::{Value, json};

use crate::common::*;

async fn audit(app: &TestApp, org: &Org, query: &str) -> Vec<Value> {
    app.get(&format!("/api/v1/audit?{query}"), &org.admin.token)
        .await
        .ok()["items"]
        .as_array()
        .unwrap()
        .clone()
}

#[rocket::async_test]
async fn members_download_everything_held_about_them() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let care = app.team(&org, "Care").await;
    let ana = app.member(&org, "Ana", Role::Employee, Some(care)).await;
    let ben = app.member(&org, "Ben", Role::Employee, Some(care)).await;
    app.post(
        "/api/v1/recognitions",
        &ben.token,
        json!({ "recipients": [ana.id], "message": "lovely call", "points": 5 }),
    )
    .await
    .ok();
    app.post(
        "/api/v1/recognitions",
        &ana.token,
        json!({ "recipients": [ben.id], "message": "thanks back", "points": 3 }),
    )
    .await
    .ok();
    let r = app.get("/api/v1/me/data", &ana.token).await;
    let doc = r.ok();
    assert!(
        r.header("Content-Disposition")
            .unwrap()
            .contains("attachment")
    );
    assert_eq!(doc["profile"]["email"], ana.email);
    assert!(
        doc["profile"].get("password_hash").is_none(),
        "no password hash in the copy"
    );
    assert_eq!(doc["team_history"].as_array().unwrap().len(), 1);
    assert_eq!(doc["recognitions_received"][0]["message"], "lovely call");
    assert_eq!(doc["recognitions_given"][0]["message"], "thanks back");
    assert_eq!(doc["balance"], 5);
    assert_eq!(doc["ledger"].as_array().unwrap().len(), 1);
    assert!(!doc["sessions"].as_array().unwrap().is_empty());
    assert!(doc["sessions"][0].get("token_hash").is_none());
    // Only the caller's own data.
    assert!(!r.text.contains(&ben.email));
    app.request(rocket::http::Method::Get, "/api/v1/me/data", None, None)
        .await
        .problem(401);
}

#[derive(diesel::QueryableByName)]
struct Total {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    total: i64,
}

async fn ledger_total(conn: &mut diesel_async::AsyncPgConnection) -> i64 {
    diesel::sql_query("SELECT COALESCE(sum(points), 0)::bigint AS total FROM ledger_entries")
        .get_result::<Total>(conn)
        .await
        .unwrap()
        .total
}

#[rocket::async_test]
async fn erasure_removes_personal_data_and_keeps_every_total() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let care = app.team(&org, "Care").await;
    let lead = app.member(&org, "Lara", Role::TeamLead, Some(care)).await;
    let ana = app
        .member(&org, "Ana Andersen", Role::Employee, Some(care))
        .await;
    let ben = app.member(&org, "Ben", Role::Employee, Some(care)).await;
    let win = app
        .post(
            "/api/v1/initiatives",
            &ana.token,
            json!({ "title": "Ana's secret plan", "description": "Call Mrs Jensen at home",
                    "dimension": "empathy", "channel": "phone", "journey_stage": "after",
                    "customer_value": 4, "organisation_value": 4, "ease": 4, "customer_reference": "case 42" }),
        )
        .await;
    let win_id = win.ok()["id"].as_str().unwrap().to_string();
    app.post(
        &format!("/api/v1/initiatives/{win_id}/comments"),
        &ana.token,
        json!({ "body": "my notes on Mrs Jensen" }),
    )
    .await
    .ok();
    app.post(
        &format!("/api/v1/initiatives/{win_id}/approve"),
        &lead.token,
        json!({ "note": "great" }),
    )
    .await
    .ok();
    app.post(
        "/api/v1/recognitions",
        &ana.token,
        json!({ "recipients": [ben.id], "message": "Ben, you saved my day", "points": 10 }),
    )
    .await
    .ok();
    let boards_before = app
        .get("/api/v1/leaderboards/teams?period=all", &lead.token)
        .await
        .ok()
        .clone();
    let ben_before = app.get("/api/v1/me/points", &ben.token).await.ok()["balance"].clone();
    let mut conn = app.db.conn().await;
    let total_before = ledger_total(&mut conn).await;

    app.post_empty(&format!("/api/v1/members/{}/erase", ana.id), &lead.token)
        .await
        .problem(403);
    let r = app
        .post_empty(
            &format!("/api/v1/members/{}/erase", ana.id),
            &org.admin.token,
        )
        .await;
    assert_eq!(r.ok()["member_id"], ana.id.to_string());
    app.post_empty(
        &format!("/api/v1/members/{}/erase", ana.id),
        &org.admin.token,
    )
    .await
    .problem(409);
    app.post_empty(
        &format!("/api/v1/members/{}/reactivate", ana.id),
        &org.admin.token,
    )
    .await
    .problem(409);

    // Personal data is gone.
    let member = app
        .get(&format!("/api/v1/members/{}", ana.id), &org.admin.token)
        .await;
    let member = member.ok();
    assert_eq!(member["display_name"], "Erased member");
    assert!(!member.to_string().contains("Andersen"));
    assert!(!member["email"].as_str().unwrap().contains("ana"));
    let initiative = app
        .get(&format!("/api/v1/initiatives/{win_id}"), &lead.token)
        .await;
    let text = initiative.ok().to_string();
    for secret in ["secret plan", "Mrs Jensen", "case 42"] {
        assert!(!text.contains(secret), "{secret} survived erasure: {text}");
    }
    let comments = app
        .get(
            &format!("/api/v1/initiatives/{win_id}/comments"),
            &lead.token,
        )
        .await;
    assert!(!comments.ok().to_string().contains("Jensen"));
    let feed = app.get("/api/v1/recognitions", &ben.token).await;
    assert!(!feed.ok().to_string().contains("saved my day"));
    app.login("acme", &ana.email, PASSWORD).await.problem(401);
    app.get("/api/v1/me", &ana.token).await.problem(401);

    // Totals are exactly as they were.
    assert_eq!(ledger_total(&mut conn).await, total_before);
    assert_eq!(
        app.get("/api/v1/me/points", &ben.token).await.ok()["balance"],
        ben_before
    );
    // The team keeps every point (one active member fewer now, which per-member boards show).
    let boards_after = app
        .get("/api/v1/leaderboards/teams?period=all", &lead.token)
        .await;
    let points = |b: &Value| -> Vec<(Value, Value)> {
        b["top"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["team_id"].clone(), t["points"].clone()))
            .collect()
    };
    assert_eq!(points(boards_after.ok()), points(&boards_before));
    let members = app
        .get("/api/v1/leaderboards/members?period=all", &lead.token)
        .await;
    assert!(
        !members.ok().to_string().contains(&ana.id.to_string()),
        "erased members are not listed"
    );

    // Audited.
    let entries = audit(&app, &org, "action=erasure").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["subject_id"], ana.id.to_string());
    assert_eq!(entries[0]["actor_member_id"], org.admin.id.to_string());

    let other = app.seed_org("other").await;
    app.post_empty(
        &format!("/api/v1/members/{}/erase", ben.id),
        &other.admin.token,
    )
    .await
    .problem(404);
}

#[rocket::async_test]
async fn the_last_admin_cannot_be_erased() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    app.post_empty(
        &format!("/api/v1/members/{}/erase", org.admin.id),
        &org.admin.token,
    )
    .await
    .problem(409);
}

#[rocket::async_test]
async fn sensitive_actions_are_audited_and_the_log_is_append_only() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let hr = app.member(&org, "Hana", Role::Hr, None).await;
    app.put(
        &format!("/api/v1/members/{}/role", ana.id),
        &org.admin.token,
        json!({ "role": "team_lead" }),
    )
    .await
    .ok();
    app.post_empty(
        &format!("/api/v1/members/{}/deactivate", ana.id),
        &org.admin.token,
    )
    .await
    .ok();
    app.post_empty(
        &format!("/api/v1/members/{}/reactivate", ana.id),
        &org.admin.token,
    )
    .await
    .ok();
    let adj = app
        .post(
            "/api/v1/ledger/adjustments",
            &org.admin.token,
            json!({ "member_id": ana.id, "points": 5, "reason": "x" }),
        )
        .await;
    let entry = adj.ok()["id"].as_str().unwrap().to_string();
    app.post(
        &format!("/api/v1/ledger/{entry}/reverse"),
        &org.admin.token,
        json!({ "reason": "oops" }),
    )
    .await
    .ok();
    app.patch(
        "/api/v1/organisation/point-rules",
        &org.admin.token,
        json!({ "contributor": 7 }),
    )
    .await
    .ok();
    let all = audit(&app, &org, "limit=200").await;
    let actions: Vec<&str> = all.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for expected in [
        "role_change",
        "member_deactivated",
        "member_reactivated",
        "point_adjustment",
        "point_reversal",
        "point_rules_changed",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
    let role = audit(&app, &org, "action=role_change").await;
    assert_eq!(
        role[0]["details"],
        json!({ "from": "employee", "to": "team_lead" })
    );
    // Filters, pagination, refusals.
    let mine = audit(&app, &org, &format!("subject_id={}", ana.id)).await;
    assert!(mine.len() >= 3);
    let page = app.get("/api/v1/audit?limit=2", &org.admin.token).await;
    let next = page.ok()["next_cursor"].as_str().unwrap().to_string();
    let page2 = app
        .get(
            &format!("/api/v1/audit?limit=2&cursor={next}"),
            &org.admin.token,
        )
        .await;
    assert_ne!(page.body["items"][0]["id"], page2.ok()["items"][0]["id"]);
    app.get("/api/v1/audit?action=dance", &org.admin.token)
        .await
        .invalid_field("action");
    app.get("/api/v1/audit?from=yesterday", &org.admin.token)
        .await
        .invalid_field("from");
    app.get("/api/v1/audit", &hr.token).await.problem(403);
    let other = app.seed_org("other").await;
    let theirs = app.get("/api/v1/audit", &other.admin.token).await;
    assert!(theirs.ok()["items"].as_array().unwrap().is_empty());
    let mut conn = app.db.conn().await;
    for sql in [
        "UPDATE audit_log SET action = 'export'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let err = diesel::sql_query(sql).execute(&mut conn).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
}

#[rocket::async_test]
async fn api_keys_are_shown_once_stored_hashed_scoped_and_revocable() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let hr = app.member(&org, "Hana", Role::Hr, None).await;
    app.post(
        "/api/v1/api-keys",
        &hr.token,
        json!({ "name": "hris", "scopes": ["exports"] }),
    )
    .await
    .problem(403);
    app.post(
        "/api/v1/api-keys",
        &org.admin.token,
        json!({ "name": "hris", "scopes": [] }),
    )
    .await
    .invalid_field("scopes");
    app.post(
        "/api/v1/api-keys",
        &org.admin.token,
        json!({ "name": "hris", "scopes": ["everything"] }),
    )
    .await
    .invalid_field("scopes[0]");
    let r = app
        .post(
            "/api/v1/api-keys",
            &org.admin.token,
            json!({ "name": "hris", "scopes": ["exports", "kpis"] }),
        )
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    let key = r.body["key"].as_str().unwrap().to_string();
    let id = r.body["id"].as_str().unwrap().to_string();
    assert!(key.starts_with("flk_"));
    assert!(key.starts_with(r.body["prefix"].as_str().unwrap()));
    let list = app.get("/api/v1/api-keys", &org.admin.token).await;
    assert!(
        !list.ok().to_string().contains(&key),
        "the key is shown once"
    );
    assert!(list.body[0]["last_used_at"].is_null());
    let mut conn = app.db.conn().await;
    #[derive(diesel::QueryableByName)]
    struct Stored {
        #[diesel(sql_type = diesel::sql_types::Bytea)]
        key_hash: Vec<u8>,
    }
    let stored: Stored = diesel::sql_query("SELECT key_hash FROM api_keys")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&stored.key_hash).contains(&key));
    // A key is not a member: member endpoints refuse it.
    let r = read(
        app.client
            .get("/api/v1/me")
            .header(Header::new("Authorization", format!("Bearer {key}")))
            .dispatch()
            .await,
    )
    .await;
    r.problem(401);
    let r = app
        .post_empty(&format!("/api/v1/api-keys/{id}/revoke"), &org.admin.token)
        .await;
    assert!(r.ok()["revoked_at"].is_string());
    app.post_empty(&format!("/api/v1/api-keys/{id}/revoke"), &org.admin.token)
        .await
        .problem(409);
    let other = app.seed_org("other").await;
    app.post_empty(&format!("/api/v1/api-keys/{id}/revoke"), &other.admin.token)
        .await
        .problem(404);
    let created = audit(&app, &org, "action=api_key_created").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["details"]["scopes"], json!(["exports", "kpis"]));
    assert_eq!(audit(&app, &org, "action=api_key_revoked").await.len(), 1);
}
