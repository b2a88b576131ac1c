//! The `frontline` binary's subcommands, run as a user would.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::common::*;

fn frontline(db: &TestDb, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_frontline"));
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DATABASE_URL", &db.url)
        .env_remove("FRONTLINE_ADMIN_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("the binary runs");
    if let (Some(mut pipe), Some(input)) = (child.stdin.take(), stdin) {
        pipe.write_all(input.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[rocket::async_test]
async fn bootstrap_creates_an_organisation_whose_admin_can_log_in() {
    let app = TestApp::new().await;
    let out = frontline(
        &app.db,
        &[
            "bootstrap",
            "--organisation",
            "acme",
            "--name",
            "Acme CX",
            "--admin-email",
            "Boss@Acme.example",
            "--time-zone",
            "Europe/Oslo",
        ],
        Some("a strong admin passphrase\n"),
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let r = app
        .login("acme", "boss@acme.example", "a strong admin passphrase")
        .await;
    let token = r.ok()["access_token"].as_str().unwrap().to_string();
    let me = app.get("/api/v1/me", &token).await;
    assert_eq!(me.ok()["role"], "admin");
    assert_eq!(me.body["organisation"]["time_zone"], "Europe/Oslo");

    // The same slug again is refused, with a message, not a panic.
    let out = frontline(
        &app.db,
        &[
            "bootstrap",
            "--organisation",
            "acme",
            "--name",
            "Again",
            "--admin-email",
            "x@acme.example",
        ],
        None,
        &[("FRONTLINE_ADMIN_PASSWORD", "another strong passphrase")],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
}

#[rocket::async_test]
async fn bootstrap_refuses_weak_passwords_and_bad_input() {
    let app = TestApp::new().await;
    let out = frontline(
        &app.db,
        &[
            "bootstrap",
            "--organisation",
            "acme",
            "--name",
            "Acme",
            "--admin-email",
            "boss@acme.example",
        ],
        None,
        &[("FRONTLINE_ADMIN_PASSWORD", "short")],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("admin_password"), "{}", stderr(&out));
    let out = frontline(
        &app.db,
        &[
            "bootstrap",
            "--organisation",
            "Not A Slug",
            "--name",
            "Acme",
            "--admin-email",
            "boss@acme.example",
        ],
        None,
        &[("FRONTLINE_ADMIN_PASSWORD", "a strong admin passphrase")],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("organisation"), "{}", stderr(&out));
    let out = frontline(
        &app.db,
        &[
            "bootstrap",
            "--organisation",
            "acme",
            "--name",
            "Acme",
            "--admin-email",
            "boss@acme.example",
        ],
        Some(""),
        &[],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("FRONTLINE_ADMIN_PASSWORD"),
        "{}",
        stderr(&out)
    );
}

#[rocket::async_test]
async fn demo_loads_once_and_its_logins_work() {
    let app = TestApp::new().await;
    let first = frontline(&app.db, &["demo"], None, &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stderr(&first).contains("admin@demo.example"));
    let second = frontline(&app.db, &["demo"], None, &[]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(stderr(&second).contains("already loaded"));
    let r = app
        .login(
            "demo",
            "lead.care@demo.example",
            frontline::provisioning::DEMO_PASSWORD,
        )
        .await;
    let token = r.ok()["access_token"].as_str().unwrap().to_string();
    let teams = app.get("/api/v1/teams", &token).await;
    assert_eq!(teams.ok()["items"].as_array().unwrap().len(), 3);
}

async fn demo_login(app: &TestApp, email: &str) -> String {
    let r = app
        .login("demo", email, frontline::provisioning::DEMO_PASSWORD)
        .await;
    r.ok()["access_token"].as_str().unwrap().to_string()
}

#[rocket::async_test]
async fn demo_has_activity_and_every_balance_is_its_ledger() {
    let app = TestApp::new().await;
    let out = frontline(&app.db, &["demo"], None, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let admin = demo_login(&app, "admin@demo.example").await;

    // A dozen wins, in every status and every CX dimension, some measured, some with help
    // from other teams, some commented on.
    let wins = all_pages(
        &app,
        "/api/v1/initiatives?scope=organisation&limit=200",
        "items",
        &admin,
    )
    .await
    .0;
    assert!(wins.len() >= 12, "{} wins", wins.len());
    let has = |field: &str, value: &str| wins.iter().any(|w| w[field] == value);
    for status in [
        "submitted",
        "approved",
        "declined",
        "implemented",
        "measured",
    ] {
        assert!(has("status", status), "no {status} win in the demo");
    }
    for dimension in [
        "trust",
        "problem_solving",
        "time_and_effort",
        "expectations",
        "personalisation",
        "empathy",
    ] {
        assert!(
            has("dimension", dimension),
            "no {dimension} win in the demo"
        );
    }
    let measured = wins.iter().find(|w| w["status"] == "measured").unwrap();
    assert!(measured["outcome"]["kpi"].is_string(), "{measured}");
    let mut cross_team = 0;
    let mut comments = 0;
    for w in &wins {
        let id = w["id"].as_str().unwrap();
        let detail = app.get(&format!("/api/v1/initiatives/{id}"), &admin).await;
        let detail = detail.ok();
        comments += detail["comment_count"].as_i64().unwrap();
        if w["status"] == "declined" {
            let declined = detail["timeline"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["kind"] == "declined")
                .unwrap();
            assert!(declined["note"].is_string(), "a decline has a reason");
        }
        if !detail["contributors"].as_array().unwrap().is_empty() {
            cross_team += 1;
        }
    }
    assert!(cross_team >= 2, "{cross_team} wins with contributors");
    assert!(comments >= 3, "{comments} comments");

    // Recognitions in the feed: from leads, peers and the admin, some for a win, some to several.
    let feed = all_pages(&app, "/api/v1/recognitions?limit=200", "items", &admin)
        .await
        .0;
    assert!(feed.len() >= 12, "{} recognitions", feed.len());
    for kind in ["lead", "peer", "admin"] {
        assert!(
            feed.iter().any(|r| r["kind"] == kind),
            "no {kind} recognition"
        );
    }
    assert!(feed.iter().any(|r| r["initiative_id"].is_string()));
    assert!(
        feed.iter()
            .any(|r| r["recipients"].as_array().unwrap().len() > 1)
    );

    // Every demo member's balance is the sum of their ledger, and somebody has points.
    let members = all_pages(&app, "/api/v1/members?limit=200", "items", &admin)
        .await
        .0;
    assert_eq!(members.len(), 11);
    let mut total = 0;
    for m in &members {
        let email = m["email"].as_str().unwrap();
        let token = demo_login(&app, email).await;
        let first = app.get("/api/v1/me/points", &token).await;
        let balance = first.ok()["balance"].as_i64().unwrap();
        let entries = all_pages(&app, "/api/v1/me/points?limit=200", "entries", &token)
            .await
            .0;
        let sum: i64 = entries.iter().map(|e| e["points"].as_i64().unwrap()).sum();
        assert_eq!(balance, sum, "{email}: balance {balance}, ledger {sum}");
        total += balance;
    }
    assert!(total > 0);

    // A rewards catalogue, one item out of it, and a redemption in each status.
    let items = all_pages(
        &app,
        "/api/v1/rewards/items?include_inactive=true",
        "items",
        &admin,
    )
    .await
    .0;
    assert!(items.len() >= 4, "{} reward items", items.len());
    assert!(items.iter().any(|i| i["active"] == false));
    let redemptions = all_pages(&app, "/api/v1/rewards/redemptions", "items", &admin)
        .await
        .0;
    for status in [
        "requested",
        "approved",
        "declined",
        "fulfilled",
        "cancelled",
    ] {
        assert!(
            redemptions.iter().any(|r| r["status"] == status),
            "no {status} redemption in the demo"
        );
    }
}

#[rocket::async_test]
async fn migrate_is_idempotent_and_openapi_needs_no_database() {
    let app = TestApp::new().await;
    let out = frontline(&app.db, &["migrate"], None, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("up to date"));
    let out = frontline(
        &app.db,
        &["openapi"],
        None,
        &[("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")],
    );
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
}
