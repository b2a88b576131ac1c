//! Issue #12, items 9, 10 and 14: sessions end when a password is set and at their absolute
//! lifetime; password sets, invites and member creation are audited; API keys expire, die
//! with their owner unless re-assigned, and each use is audited at most once a minute; the
//! database refuses reversals and KPI corrections across organisations.

use chrono::{DateTime, Duration, Utc};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::RunQueryDsl;
use frontline::auth::Role;
use rocket::http::{Header, Status};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::*;

async fn audit(app: &TestApp, org: &Org, query: &str) -> Vec<Value> {
    app.get(
        &format!("/api/v1/audit?{query}&limit=200"),
        &org.admin.token,
    )
    .await
    .ok()["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn refresh(app: &TestApp, token: &str) -> Resp {
    app.anon_post("/api/v1/auth/refresh", json!({ "refresh_token": token }))
        .await
}

async fn sql(app: &TestApp, query: &str, id: Uuid) {
    let mut conn = app.db.conn().await;
    diesel::sql_query(query)
        .bind::<diesel::sql_types::Uuid, _>(id)
        .execute(&mut conn)
        .await
        .unwrap();
}

// ---- item 9: sessions, invites, password sets ----

#[rocket::async_test]
async fn accepting_an_invite_ends_every_session_of_the_member_and_everything_is_audited() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let r = app
        .post(
            "/api/v1/members",
            &org.admin.token,
            json!({ "email": "ana@acme.example", "display_name": "Ana", "role": "employee",
                    "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    let ana = id_of(&r.body);
    let created = audit(&app, &org, "action=member_created").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["subject_id"], ana.to_string());
    assert_eq!(created[0]["actor_member_id"], org.admin.id.to_string());
    assert_eq!(created[0]["details"]["password_set"], true);

    // Two sessions, as on a laptop and a phone (one of them perhaps an attacker's).
    let laptop = app.login_actor("acme", ana, "ana@acme.example").await;
    let phone = app.login_actor("acme", ana, "ana@acme.example").await;

    // The documented password reset: the admin issues an invite, Ana sets a new password.
    let invite = app
        .post_empty(&format!("/api/v1/members/{ana}/invite"), &org.admin.token)
        .await;
    assert_eq!(invite.status, Status::Created, "{}", invite.text);
    let invited = audit(&app, &org, "action=invite_created").await;
    assert_eq!(invited.len(), 1);
    assert_eq!(invited[0]["subject_id"], ana.to_string());
    let accepted = app
        .anon_post(
            "/api/v1/auth/invites/accept",
            json!({ "token": invite.body["invite_token"], "password": "a brand new passphrase" }),
        )
        .await;
    let fresh = accepted.ok()["access_token"].as_str().unwrap().to_string();

    for old in [&laptop, &phone] {
        app.get("/api/v1/me", &old.token).await.problem(401);
        refresh(&app, &old.refresh_token).await.problem(401);
    }
    app.get("/api/v1/me", &fresh).await.ok();
    let entries = audit(&app, &org, "action=invite_accepted").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["actor_member_id"], ana.to_string());
    assert_eq!(entries[0]["details"]["sessions_ended"], 2);

    // Inviting a member without a password is audited too, with the invite.
    let r = app
        .post(
            "/api/v1/members",
            &org.admin.token,
            json!({ "email": "ben@acme.example", "display_name": "Ben", "role": "employee" }),
        )
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    assert_eq!(audit(&app, &org, "action=member_created").await.len(), 2);
    assert_eq!(audit(&app, &org, "action=invite_created").await.len(), 2);
}

#[rocket::async_test]
async fn changing_a_password_is_audited() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let other = app.login_actor("acme", ana.id, &ana.email).await;
    let r = app
        .post(
            "/api/v1/me/password",
            &ana.token,
            json!({ "current_password": PASSWORD, "new_password": "another long passphrase" }),
        )
        .await;
    assert_eq!(r.status, Status::NoContent, "{}", r.text);
    app.get("/api/v1/me", &other.token).await.problem(401);
    let entries = audit(&app, &org, "action=password_changed").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["subject_id"], ana.id.to_string());
    assert_eq!(entries[0]["details"]["sessions_ended"], 1);
    assert!(!entries[0].to_string().contains("another long passphrase"));
}

#[rocket::async_test]
async fn a_session_ends_at_its_absolute_lifetime_however_often_it_is_refreshed() {
    let app = TestApp::with(|f| {
        let f = frontline::config::with_override(f, "session_max_age_days", 1);
        frontline::config::with_override(f, "read_cache_ttl_ms", 0)
    })
    .await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    // Refreshed just now, so its sliding lifetime is far away...
    let r = refresh(&app, &ana.refresh_token).await;
    let access = r.ok()["access_token"].as_str().unwrap().to_string();
    let refresh_token = r.body["refresh_token"].as_str().unwrap().to_string();
    app.get("/api/v1/me", &access).await.ok();
    // ...but it began two days ago.
    sql(
        &app,
        "UPDATE sessions SET created_at = now() - interval '2 days' WHERE member_id = $1",
        ana.id,
    )
    .await;
    app.get("/api/v1/me", &access).await.problem(401);
    let r = refresh(&app, &refresh_token).await;
    let detail = r.problem(401)["detail"].as_str().unwrap().to_string();
    assert!(detail.contains("maximum age"), "{detail}");
    // Logging in again starts a new session.
    let again = app.login_actor("acme", ana.id, &ana.email).await;
    app.get("/api/v1/me", &again.token).await.ok();
}

// ---- item 10: API keys ----

async fn create_key(app: &TestApp, token: &str, body: Value) -> Resp {
    app.post("/api/v1/api-keys", token, body).await
}

async fn use_key(app: &TestApp, key: &str, team: Uuid) -> Resp {
    read(
        app.client
            .get(format!("/api/v1/teams/{team}/kpis"))
            .header(Header::new("Authorization", format!("Bearer {key}")))
            .dispatch()
            .await,
    )
    .await
}

#[rocket::async_test]
async fn api_keys_expire_after_a_year_or_when_the_admin_chose() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let team = app.team(&org, "Support").await;
    let base = json!({ "name": "hris", "scopes": ["kpis"] });
    let with = |expires: Value| {
        let mut b = base.clone();
        b["expires_at"] = expires;
        b
    };
    let past = (Utc::now() - Duration::minutes(1)).to_rfc3339();
    create_key(&app, &org.admin.token, with(json!(past)))
        .await
        .invalid_field("expires_at");
    let far = (Utc::now() + Duration::days(3 * 365)).to_rfc3339();
    create_key(&app, &org.admin.token, with(json!(far)))
        .await
        .invalid_field("expires_at");
    create_key(&app, &org.admin.token, with(json!("next tuesday")))
        .await
        .invalid_field("expires_at");

    let r = create_key(&app, &org.admin.token, base.clone()).await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    let expires: DateTime<Utc> = r.body["expires_at"].as_str().unwrap().parse().unwrap();
    let in_a_year = Utc::now() + Duration::days(365);
    assert!((expires - in_a_year).num_minutes().abs() < 5, "{expires}");
    let key = r.body["key"].as_str().unwrap().to_string();
    use_key(&app, &key, team).await.ok();

    let soon = (Utc::now() + Duration::days(30)).to_rfc3339();
    let r = create_key(&app, &org.admin.token, with(json!(soon))).await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    let short = r.body["key"].as_str().unwrap().to_string();
    let short_id = id_of(&r.body);
    use_key(&app, &short, team).await.ok();
    sql(
        &app,
        "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1",
        short_id,
    )
    .await;
    let r = use_key(&app, &short, team).await;
    assert!(
        r.problem(401)["detail"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    use_key(&app, &key, team).await.ok();
}

#[rocket::async_test]
async fn api_keys_stop_working_with_their_owner_until_an_admin_reassigns_them() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let team = app.team(&org, "Support").await;
    let leaving = app.member(&org, "Lea Leaving", Role::Admin, None).await;
    let hr = app.member(&org, "Hanna", Role::Hr, None).await;
    let emma = app.member(&org, "Emma", Role::Employee, None).await;
    let r = create_key(
        &app,
        &leaving.token,
        json!({ "name": "hris", "scopes": ["kpis"] }),
    )
    .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    let key = r.body["key"].as_str().unwrap().to_string();
    let id = id_of(&r.body);
    assert_eq!(r.body["owner_id"], leaving.id.to_string());
    use_key(&app, &key, team).await.ok();

    app.post_empty(
        &format!("/api/v1/members/{}/deactivate", leaving.id),
        &org.admin.token,
    )
    .await
    .ok();
    let r = use_key(&app, &key, team).await;
    assert!(r.problem(401)["detail"].as_str().unwrap().contains("owner"));

    let reassign = format!("/api/v1/api-keys/{id}/reassign");
    // Refusals: not an admin, not an eligible owner, bad input, someone else's key.
    app.post(&reassign, &hr.token, json!({ "member_id": hr.id }))
        .await
        .problem(403);
    app.request(
        rocket::http::Method::Post,
        &reassign,
        None,
        Some(json!({ "member_id": hr.id })),
    )
    .await
    .problem(401);
    for not_eligible in [emma.id, leaving.id, Uuid::new_v4()] {
        app.post(
            &reassign,
            &org.admin.token,
            json!({ "member_id": not_eligible }),
        )
        .await
        .invalid_field("member_id");
    }
    app.post(&reassign, &org.admin.token, json!({ "member_id": "me" }))
        .await
        .invalid_field("member_id");
    app.post(&reassign, &org.admin.token, json!({ "owner": hr.id }))
        .await
        .problem(422);
    let other = app.seed_org("globex").await;
    let missing = app
        .post(
            &reassign,
            &other.admin.token,
            json!({ "member_id": other.admin.id }),
        )
        .await;
    missing.problem(404);
    let unknown = app
        .post(
            &format!("/api/v1/api-keys/{}/reassign", Uuid::new_v4()),
            &other.admin.token,
            json!({ "member_id": other.admin.id }),
        )
        .await;
    same_problem(&unknown, &missing);
    // Another organisation's member is not a member of this one.
    app.post(
        &reassign,
        &org.admin.token,
        json!({ "member_id": other.admin.id }),
    )
    .await
    .invalid_field("member_id");

    let r = app
        .post(&reassign, &org.admin.token, json!({ "member_id": hr.id }))
        .await;
    assert_eq!(r.ok()["owner_id"], hr.id.to_string());
    assert_eq!(r.body["created_by"], leaving.id.to_string());
    use_key(&app, &key, team).await.ok();
    let entries = audit(&app, &org, "action=api_key_reassigned").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0]["details"],
        json!({ "from": leaving.id, "to": hr.id })
    );

    // An erased owner stops the key as well (erasure deactivates first).
    app.post(
        &reassign,
        &org.admin.token,
        json!({ "member_id": org.admin.id }),
    )
    .await
    .ok();
    sql(
        &app,
        "UPDATE members SET erased_at = now() WHERE id = $1",
        org.admin.id,
    )
    .await;
    use_key(&app, &key, team).await.problem(401);
    sql(
        &app,
        "UPDATE members SET erased_at = NULL WHERE id = $1",
        org.admin.id,
    )
    .await;

    app.post_empty(&format!("/api/v1/api-keys/{id}/revoke"), &org.admin.token)
        .await
        .ok();
    app.post(&reassign, &org.admin.token, json!({ "member_id": hr.id }))
        .await
        .problem(409);
}

/// A key acts for its owner: once the owner is no longer an admin or HR analyst (demoted,
/// not deactivated), it stops, and works again when an admin gives it to someone who is.
#[rocket::async_test]
async fn api_keys_stop_working_when_their_owner_is_demoted() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let team = app.team(&org, "Support").await;
    let moving = app.member(&org, "Mo Moving", Role::Admin, None).await;
    let r = create_key(
        &app,
        &moving.token,
        json!({ "name": "hris", "scopes": ["kpis"] }),
    )
    .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    let key = r.body["key"].as_str().unwrap().to_string();
    let id = id_of(&r.body);
    use_key(&app, &key, team).await.ok();

    app.put(
        &format!("/api/v1/members/{}/role", moving.id),
        &org.admin.token,
        json!({ "role": "employee" }),
    )
    .await
    .ok();
    let r = use_key(&app, &key, team).await;
    assert!(r.problem(401)["detail"].as_str().unwrap().contains("owner"));

    app.post(
        &format!("/api/v1/api-keys/{id}/reassign"),
        &org.admin.token,
        json!({ "member_id": org.admin.id }),
    )
    .await
    .ok();
    use_key(&app, &key, team).await.ok();
}

#[rocket::async_test]
async fn racing_uses_of_a_key_write_one_audit_entry_per_minute() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let team = app.team(&org, "Support").await;
    let r = create_key(
        &app,
        &org.admin.token,
        json!({ "name": "hris", "scopes": ["kpis"] }),
    )
    .await;
    let key = r.body["key"].as_str().unwrap().to_string();
    let id = id_of(&r.body);
    let race = || {
        let requests = (0..10).map(|_| {
            app.client
                .get(format!("/api/v1/teams/{team}/kpis"))
                .header(Header::new("Authorization", format!("Bearer {key}")))
                .dispatch()
        });
        futures::future::join_all(requests)
    };
    for r in race().await {
        assert_eq!(r.status(), Status::Ok);
    }
    let used = audit(&app, &org, "action=api_key_used").await;
    assert_eq!(used.len(), 1, "{used:?}");
    assert_eq!(used[0]["actor_api_key_id"], id.to_string());
    assert_eq!(used[0]["subject_id"], id.to_string());
    assert_eq!(
        used[0]["details"]["path"],
        format!("/api/v1/teams/{team}/kpis")
    );
    let listed = app.get("/api/v1/api-keys", &org.admin.token).await;
    assert!(listed.ok()[0]["last_used_at"].is_string());

    // A minute later the next use is audited again, once.
    sql(
        &app,
        "UPDATE api_keys SET last_audited_at = now() - interval '61 seconds' WHERE id = $1",
        id,
    )
    .await;
    for r in race().await {
        assert_eq!(r.status(), Status::Ok);
    }
    assert_eq!(audit(&app, &org, "action=api_key_used").await.len(), 2);
}

// ---- item 14: composite foreign keys ----

#[rocket::async_test]
async fn the_database_refuses_reversals_and_kpi_corrections_across_organisations() {
    let app = TestApp::new().await;
    let acme = app.seed_org("acme").await;
    let globex = app.seed_org("globex").await;
    let acme_team = app.team(&acme, "Acme Support").await;
    let globex_team = app.team(&globex, "Globex Support").await;
    let mut conn = app.db.conn().await;

    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: Uuid,
    }
    let acme_entry: Id = diesel::sql_query(
        "INSERT INTO ledger_entries (organisation_id, member_id, points, reason, note, created_by) \
         VALUES ($1, $2, 10, 'adjustment', 'test', $2) RETURNING id",
    )
    .bind::<diesel::sql_types::Uuid, _>(acme.id)
    .bind::<diesel::sql_types::Uuid, _>(acme.admin.id)
    .get_result(&mut conn)
    .await
    .unwrap();
    let err = diesel::sql_query(
        "INSERT INTO ledger_entries (organisation_id, member_id, points, reason, reverses, note, created_by) \
         VALUES ($1, $2, -10, 'reversal', $3, 'test', $2)",
    )
    .bind::<diesel::sql_types::Uuid, _>(globex.id)
    .bind::<diesel::sql_types::Uuid, _>(globex.admin.id)
    .bind::<diesel::sql_types::Uuid, _>(acme_entry.id)
    .execute(&mut conn)
    .await
    .expect_err("a reversal of another organisation's entry must be refused");
    match err {
        DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
            assert_eq!(info.constraint_name(), Some("ledger_entries_reverses_fkey"));
        }
        other => panic!("expected a foreign-key violation, got {other:?}"),
    }

    let acme_kpi: Id = diesel::sql_query(
        "INSERT INTO team_kpis (organisation_id, team_id, kpi, period_start, period_end, value, recorded_by) \
         VALUES ($1, $2, 'csat', '2026-01-01', '2026-02-01', 80, $3) RETURNING id",
    )
    .bind::<diesel::sql_types::Uuid, _>(acme.id)
    .bind::<diesel::sql_types::Uuid, _>(acme_team)
    .bind::<diesel::sql_types::Uuid, _>(acme.admin.id)
    .get_result(&mut conn)
    .await
    .unwrap();
    let err = diesel::sql_query(
        "INSERT INTO team_kpis (organisation_id, team_id, kpi, period_start, period_end, value, supersedes, recorded_by) \
         VALUES ($1, $2, 'csat', '2026-01-01', '2026-02-01', 81, $3, $4)",
    )
    .bind::<diesel::sql_types::Uuid, _>(globex.id)
    .bind::<diesel::sql_types::Uuid, _>(globex_team)
    .bind::<diesel::sql_types::Uuid, _>(acme_kpi.id)
    .bind::<diesel::sql_types::Uuid, _>(globex.admin.id)
    .execute(&mut conn)
    .await
    .expect_err("a correction of another organisation's KPI must be refused");
    match err {
        DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
            assert_eq!(info.constraint_name(), Some("team_kpis_supersedes_fkey"));
        }
        other => panic!("expected a foreign-key violation, got {other:?}"),
    }
    // Within one organisation both still work.
    diesel::sql_query(
        "INSERT INTO ledger_entries (organisation_id, member_id, points, reason, reverses, note, created_by) \
         VALUES ($1, $2, -10, 'reversal', $3, 'test', $2)",
    )
    .bind::<diesel::sql_types::Uuid, _>(acme.id)
    .bind::<diesel::sql_types::Uuid, _>(acme.admin.id)
    .bind::<diesel::sql_types::Uuid, _>(acme_entry.id)
    .execute(&mut conn)
    .await
    .unwrap();
}
