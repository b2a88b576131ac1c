//! Issue #12, item 13: free-text query parameters are bounded; names, titles, messages and
//! comments refuse bidirectional-override and zero-width characters; a time zone PostgreSQL
//! does not know is a 422 when it is set; `frontline demo` refuses the release profile
//! unless `--force`.

use std::process::{Command, Output, Stdio};

use diesel_async::RunQueryDsl;
use frontline::auth::Role;
use rocket::http::Status;
use serde_json::json;

use crate::common::*;

#[rocket::async_test]
async fn free_text_query_parameters_are_bounded() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    app.team(&org, "Customer Care").await;
    let long = "a".repeat(101);
    for path in ["/api/v1/teams", "/api/v1/members"] {
        app.get(&format!("{path}?q={long}"), &org.admin.token)
            .await
            .invalid_field("q");
        app.get(&format!("{path}?q=%01care"), &org.admin.token)
            .await
            .invalid_field("q");
    }
    let found = app
        .get("/api/v1/teams?q=%20care%20", &org.admin.token)
        .await;
    assert_eq!(found.ok()["items"].as_array().unwrap().len(), 1);
    let hundred = "a".repeat(100);
    app.get(&format!("/api/v1/teams?q={hundred}"), &org.admin.token)
        .await
        .ok();
    // A cursor far longer than any this API issues is refused before it is decoded.
    let cursor = "A".repeat(5000);
    app.get(&format!("/api/v1/teams?cursor={cursor}"), &org.admin.token)
        .await
        .invalid_field("cursor");
}

#[rocket::async_test]
async fn names_titles_messages_and_comments_refuse_deceptive_characters() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let team = app.team(&org, "Customer Care").await;
    let ana = app.member(&org, "Ana", Role::Employee, Some(team)).await;
    let ben = app.member(&org, "Ben", Role::Employee, Some(team)).await;
    for bad in [
        "Care\u{202E}eraC",
        "Care\u{2066}x\u{2069}",
        "Ca\u{200B}re",
        "Care\u{200D}",
        "Care\u{2060}",
        "\u{FEFF}Care",
    ] {
        app.post("/api/v1/teams", &org.admin.token, json!({ "name": bad }))
            .await
            .invalid_field("name");
        app.patch(
            &format!("/api/v1/members/{}", ana.id),
            &org.admin.token,
            json!({ "display_name": bad }),
        )
        .await
        .invalid_field("display_name");
        app.post(
            "/api/v1/recognitions",
            &ana.token,
            json!({ "recipients": [ben.id], "message": bad, "points": 5 }),
        )
        .await
        .invalid_field("message");
        let win = json!({
            "title": bad,
            "description": format!("line one\n{bad}"),
            "dimension": "empathy",
            "channel": "phone",
            "journey_stage": "after",
            "customer_value": 4,
            "organisation_value": 3,
            "ease": 5,
        });
        let r = app.post("/api/v1/initiatives", &ana.token, win).await;
        r.invalid_field("title");
        r.invalid_field("description");
    }
    // Letters of every script, emoji and line breaks in long text stay welcome.
    let r = app
        .post(
            "/api/v1/initiatives",
            &ana.token,
            json!({
                "title": "Zoë's Ångström 🎉 win",
                "description": "مرحبا\nשלום",
                "dimension": "empathy",
                "channel": "phone",
                "journey_stage": "after",
                "customer_value": 4,
                "organisation_value": 3,
                "ease": 5,
            }),
        )
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    let win = id_of(&r.body);
    app.post(
        &format!("/api/v1/initiatives/{win}/comments"),
        &ben.token,
        json!({ "body": "nice\u{202E}" }),
    )
    .await
    .invalid_field("body");
}

#[rocket::async_test]
async fn a_time_zone_postgresql_does_not_know_is_refused_when_it_is_set() {
    // Simulate a server whose tz database predates a zone chrono-tz knows (Kyiv's spelling
    // arrived in tzdata 2022b): this database's sessions see a pg_timezone_names without it.
    // Set up before the application connects, since the setting applies to new sessions.
    let db = TestDb::new().await;
    {
        let mut conn = db.conn().await;
        for sql in [
            "CREATE VIEW public.pg_timezone_names AS \
             SELECT * FROM pg_catalog.pg_timezone_names WHERE name <> 'Europe/Kyiv'"
                .to_string(),
            format!(
                "ALTER DATABASE {} SET search_path = \"$user\", public, pg_catalog",
                db.name
            ),
        ] {
            diesel::sql_query(sql).execute(&mut conn).await.unwrap();
        }
    }
    let figment = figment_for(&db);
    let app = TestApp::serve(db, figment).await;
    let org = app.seed_org("acme").await;
    app.patch(
        "/api/v1/organisation",
        &org.admin.token,
        json!({ "time_zone": "Europe/Kyiv" }),
    )
    .await
    .invalid_field("time_zone");
    app.patch(
        "/api/v1/organisation",
        &org.admin.token,
        json!({ "time_zone": "Mars/Olympus" }),
    )
    .await
    .invalid_field("time_zone");
    let r = app
        .patch(
            "/api/v1/organisation",
            &org.admin.token,
            json!({ "time_zone": "Europe/Helsinki" }),
        )
        .await;
    assert_eq!(r.ok()["time_zone"], "Europe/Helsinki");
    // Creating an organisation (bootstrap, demo) checks the same way.
    let mut conn = app.db.conn().await;
    let err = frontline::organisations::create(&mut conn, "kyiv", "Kyiv CX", "Europe/Kyiv")
        .await
        .expect_err("a zone the database does not know is refused");
    match err {
        frontline::error::AppError::Validation(errors) => {
            assert_eq!(errors[0].field, "time_zone")
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn frontline_cli(db: &TestDb, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_frontline"));
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DATABASE_URL", &db.url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

#[rocket::async_test]
async fn demo_refuses_the_release_profile_unless_forced() {
    let app = TestApp::new().await;
    let release = [("ROCKET_PROFILE", "release")];
    let out = frontline_cli(&app.db, &["demo"], &release);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("--force"), "{err}");
    app.login(
        "demo",
        "admin@demo.example",
        frontline::provisioning::DEMO_PASSWORD,
    )
    .await
    .problem(401);

    let out = frontline_cli(&app.db, &["demo", "--force"], &release);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    app.login(
        "demo",
        "admin@demo.example",
        frontline::provisioning::DEMO_PASSWORD,
    )
    .await
    .ok();
}
