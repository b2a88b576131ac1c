//! `GET /metrics`: who may scrape it, that its text is Prometheus' (checked by the
//! `prometheus-client` parser from PyPI), and that what happens moves its counters.
//!
//! The recorder is process-wide and the tests run in parallel, so every check compares a
//! scrape before with one after and asks for at least the change this test made.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use frontline::auth::Role;
use rocket::http::{Header, Status};
use serde_json::{Value, json};

use crate::common::*;

async fn scrape_with(app: &TestApp, token: Option<&str>) -> Resp {
    let mut req = app.client.get("/metrics");
    if let Some(t) = token {
        req.add_header(Header::new("Authorization", format!("Bearer {t}")));
    }
    read(req.dispatch().await).await
}

async fn scrape(app: &TestApp) -> String {
    let r = scrape_with(app, Some(TEST_METRICS_TOKEN)).await;
    assert_eq!(r.status, Status::Ok, "{}", r.text);
    assert_eq!(r.content_type.as_deref(), Some("text/plain"));
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.contains("version=0.0.4")),
        "{:?}",
        r.header("content-type")
    );
    r.text
}

/// The sum of the samples of `name` that carry every label of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            (metric == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
            .then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

#[rocket::async_test]
async fn metrics_need_their_token_and_are_off_without_the_setting() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    scrape_with(&app, None).await.problem(401);
    scrape_with(&app, Some("not-the-metrics-token-at-all"))
        .await
        .problem(401);
    // A member's access token is no metrics token.
    scrape_with(&app, Some(&org.admin.token)).await.problem(401);
    scrape(&app).await;

    let off =
        TestApp::with(|f| frontline::config::with_override(f, "metrics_token", None::<&str>)).await;
    let r = scrape_with(&off, Some(TEST_METRICS_TOKEN)).await;
    r.problem(404);
}

#[test]
fn a_short_metrics_token_refuses_to_start() {
    let f = frontline::config::figment_without_file();
    let f = frontline::config::with_override(f, "database_url", "postgres://nowhere/x");
    let f = frontline::config::with_override(f, "jwt_secret", TEST_JWT_SECRET);
    let f = frontline::config::with_override(f, "metrics_token", "short");
    let Err(err) = frontline::rocket(f) else {
        panic!("a short metrics token is refused")
    };
    assert!(err.to_string().contains("metrics_token"), "{err}");
}

#[rocket::async_test]
async fn requests_cache_reads_and_points_move_their_counters() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let team = app.team(&org, "Care").await;
    let ana = app.member(&org, "Ana", Role::Employee, Some(team)).await;
    let before = scrape(&app).await;

    app.get(&format!("/api/v1/teams/{team}"), &org.admin.token)
        .await
        .ok();
    app.post(
        "/api/v1/ledger/adjustments",
        &org.admin.token,
        json!({ "member_id": ana.id, "points": 5, "reason": "test" }),
    )
    .await
    .ok();
    for _ in 0..2 {
        app.get("/api/v1/leaderboards/members?period=all", &ana.token)
            .await
            .ok();
    }
    let after = scrape(&app).await;

    let delta = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
    };
    let team_route = [
        ("method", "GET"),
        ("route", "/api/v1/teams/{id}"),
        ("status", "2xx"),
    ];
    assert!(delta("frontline_http_requests_total", &team_route) >= 1.0);
    assert!(delta("frontline_http_request_duration_seconds_count", &team_route) >= 1.0);
    assert!(
        delta(
            "frontline_http_request_duration_seconds_bucket",
            &[("route", "/api/v1/teams/{id}"), ("le", "+Inf")]
        ) >= 1.0
    );
    assert!(
        !after.contains(&team.to_string()),
        "routes are labelled by their template, never by the requested path"
    );
    let board = [("kind", "board_answers")];
    assert!(delta("frontline_read_cache_misses_total", &board) >= 1.0);
    assert!(delta("frontline_read_cache_hits_total", &board) >= 1.0);
    assert!(
        delta(
            "frontline_ledger_entries_written_total",
            &[("reason", "adjustment")]
        ) >= 1.0
    );
    assert!(delta("frontline_board_updates_total", &[]) >= 1.0);
    for pool in ["requests", "exports"] {
        assert!(
            sample(
                &after,
                "frontline_db_pool_max_connections",
                &[("pool", pool)]
            ) >= 1.0
        );
        for state in ["in_use", "idle"] {
            assert!(
                after.contains(&format!(
                    "frontline_db_pool_connections{{pool=\"{pool}\",state=\"{state}\"}}"
                )),
                "{pool} {state}"
            );
        }
    }

    check_with_prometheus_parser(&after);
}

#[rocket::async_test]
async fn login_throttle_refusals_are_counted() {
    let app =
        TestApp::with(|f| frontline::config::with_override(f, "login_max_failures_per_address", 1))
            .await;
    app.seed_org("acme").await;
    let before = scrape(&app).await;
    app.login("acme", "admin@acme.example", "not the password")
        .await;
    let refused = app
        .login("acme", "admin@acme.example", "not the password")
        .await;
    refused.problem(429);
    let after = scrape(&app).await;
    let key = [("key", "address")];
    assert!(
        sample(&after, "frontline_login_throttle_refusals_total", &key)
            - sample(&before, "frontline_login_throttle_refusals_total", &key)
            >= 1.0
    );
}

#[rocket::async_test]
async fn refusals_of_members_budgets_are_counted() {
    let app =
        TestApp::with(|f| frontline::config::with_override(f, "comments_per_member", 1)).await;
    let org = app.seed_org("acme").await;
    let r = app
        .post(
            "/api/v1/initiatives",
            &org.admin.token,
            win("Same-day call-backs"),
        )
        .await;
    let comments = format!("/api/v1/initiatives/{}/comments", id_of(r.ok()));
    let before = scrape(&app).await;
    let hi = json!({ "body": "Nice one" });
    app.post(&comments, &org.admin.token, hi.clone()).await.ok();
    app.post(&comments, &org.admin.token, hi).await.problem(429);
    let after = scrape(&app).await;
    let action = [("action", "comment")];
    assert!(
        sample(&after, "frontline_member_rate_refusals_total", &action)
            - sample(&before, "frontline_member_rate_refusals_total", &action)
            >= 1.0
    );
    for action in ["board", "report"] {
        assert!(
            after.contains(&format!(
                "frontline_member_rate_refusals_total{{action=\"{action}\"}}"
            )),
            "every action's series is there from the start"
        );
    }
}

/// The project venv's python with `prometheus_client` (scripts/test installs it and names it
/// in `FRONTLINE_TEST_PYTHON`; then it must work). Run on its own, a test without it says so
/// and keeps to the checks above.
fn prometheus_python() -> Option<PathBuf> {
    let named = std::env::var_os("FRONTLINE_TEST_PYTHON").map(PathBuf::from);
    let python = named.clone().unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".local/venv/bin/python")
    });
    let usable = Command::new(&python)
        .args(["-c", "import prometheus_client"])
        .output()
        .is_ok_and(|o| o.status.success());
    match (usable, named) {
        (true, _) => Some(python),
        (false, Some(named)) => panic!("{named:?} cannot import prometheus_client"),
        (false, None) => {
            eprintln!(
                "WARNING: no python with prometheus_client ({python:?}); the Prometheus parser check is skipped (scripts/test runs it)"
            );
            None
        }
    }
}

const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
families = {f.name: f.type for f in text_string_to_metric_families(sys.stdin.read())}
print(json.dumps(families))
"#;

fn check_with_prometheus_parser(text: &str) {
    let Some(python) = prometheus_python() else {
        return;
    };
    let mut child = Command::new(python)
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused the text: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let families: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The parser names counters without their `_total`.
    for (family, kind) in [
        ("frontline_http_requests", "counter"),
        ("frontline_http_request_duration_seconds", "histogram"),
        ("frontline_db_pool_connections", "gauge"),
        ("frontline_db_pool_waiting", "gauge"),
        ("frontline_db_pool_max_connections", "gauge"),
        ("frontline_read_cache_hits", "counter"),
        ("frontline_read_cache_misses", "counter"),
        ("frontline_ledger_entries_written", "counter"),
        ("frontline_board_updates", "counter"),
        ("frontline_login_throttle_refusals", "counter"),
        ("frontline_member_rate_refusals", "counter"),
    ] {
        assert_eq!(families[family], kind, "{family} in {families}");
    }
}
