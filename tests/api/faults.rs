//! What a request meets when the database misbehaves (issue #14, item 4): a statement that
//! would wait forever, a pool with no free connection, a connection that goes away. Each
//! answers `503` with `Retry-After` within a bound, never `500` and never a hang.

use std::time::{Duration, Instant};

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use frontline::auth::Role;
use frontline::config::with_override;
use rocket::http::{ContentType, Header, Status};
use serde_json::json;

use crate::common::*;

const LIST: &str = "/api/v1/initiatives";

/// A connection of the test's own holding `ACCESS EXCLUSIVE` on `initiatives` until dropped
/// (or `COMMIT`): every read of the table waits behind it.
async fn lock_initiatives(db: &TestDb) -> AsyncPgConnection {
    let mut conn = db.conn().await;
    diesel::sql_query("BEGIN").execute(&mut conn).await.unwrap();
    diesel::sql_query("LOCK TABLE initiatives IN ACCESS EXCLUSIVE MODE")
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}

fn assert_retryable(r: &Resp) {
    assert_eq!(r.status, Status::ServiceUnavailable, "{}", r.text);
    assert_eq!(r.header("Retry-After"), Some("1"), "{:?}", r.headers);
    assert_eq!(
        r.content_type.as_deref(),
        Some("application/problem+json"),
        "{}",
        r.text
    );
}

/// A read stuck behind a lock is cancelled by the statement timeout and answers 503 with
/// Retry-After, in about the timeout; once the lock is gone the same read answers.
#[rocket::async_test]
async fn a_statement_stuck_behind_a_lock_answers_503_within_the_timeout() {
    let app = TestApp::with(|f| with_override(f, "db_statement_timeout_ms", 300)).await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    app.get(LIST, &ana.token).await.ok();

    let mut lock = lock_initiatives(&app.db).await;
    let started = Instant::now();
    let stuck = app.get(LIST, &ana.token).await;
    let waited = started.elapsed();
    assert_retryable(&stuck);
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(3),
        "answered after {waited:?}"
    );

    diesel::sql_query("COMMIT")
        .execute(&mut lock)
        .await
        .unwrap();
    app.get(LIST, &ana.token).await.ok();
}

/// With every connection taken, a request waits `db_pool_wait_ms` for one and answers 503,
/// rather than queueing for as long as the holder takes.
#[rocket::async_test]
async fn a_request_that_finds_no_free_connection_answers_503() {
    let app = TestApp::with(|f| {
        let f = with_override(f, "db_pool_size", 1);
        let f = with_override(f, "db_pool_wait_ms", 200);
        with_override(f, "db_statement_timeout_ms", 3000)
    })
    .await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    app.get(LIST, &ana.token).await.ok();
    app.get("/api/v1/me", &ana.token).await.ok();

    let mut lock = lock_initiatives(&app.db).await;
    // The first request takes the only connection and waits behind the lock; the second
    // finds none free.
    let holder = app.get(LIST, &ana.token);
    let other = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        let r = app.get(LIST, &ana.token).await;
        (r, started.elapsed())
    };
    let release = async {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        diesel::sql_query("COMMIT")
            .execute(&mut lock)
            .await
            .unwrap();
    };
    let (held, (refused, waited), ()) = tokio::join!(holder, other, release);
    held.ok();
    assert_retryable(&refused);
    assert_eq!(
        refused.body["detail"],
        "the server is busy; try again shortly"
    );
    assert!(
        waited < Duration::from_millis(900),
        "refused after {waited:?}"
    );
    app.get(LIST, &ana.token).await.ok();
}

/// The server's connections are terminated (`pg_terminate_backend`) again and again while
/// recognitions with an Idempotency-Key flow: each answers 2xx or 503 with Retry-After, never
/// 500; retrying every 503 with its key (after a pause) ends with each recognition in the
/// ledger once.
#[rocket::async_test]
async fn a_lost_connection_answers_503_and_a_retry_with_its_key_is_safe() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let giver = app.member(&org, "Giver", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    without_badges(&app, &org).await;
    let recognise = |key: String| {
        app.client
            .post("/api/v1/recognitions")
            .header(Header::new(
                "Authorization",
                format!("Bearer {}", giver.token),
            ))
            .header(Header::new("Idempotency-Key", key))
            .header(ContentType::JSON)
            .body(
                json!({ "recipients": [ben.id], "message": "thanks for the save", "points": 1 })
                    .to_string(),
            )
            .dispatch()
    };

    let mut killer = AsyncPgConnection::establish(&app.db.url).await.unwrap();
    let kill = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                WHERE datname = current_database() AND pid <> pg_backend_pid()";
    const WRITES: usize = 20;
    let mut lost = Vec::new();
    let mut unavailable = 0;
    for round in 0..WRITES / 4 {
        let sends = (0..4).map(|i| recognise(format!("k-{round}-{i}")));
        let killing = async {
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(2)).await;
                diesel::sql_query(kill).execute(&mut killer).await.unwrap();
            }
        };
        let (responses, ()) = tokio::join!(futures::future::join_all(sends), killing);
        for (i, r) in responses.into_iter().enumerate() {
            let r = read(r).await;
            if r.status == Status::ServiceUnavailable {
                assert_retryable(&r);
                unavailable += 1;
                lost.push(format!("k-{round}-{i}"));
            } else {
                assert_eq!(r.status, Status::Created, "{}", r.text);
            }
        }
    }
    eprintln!("{unavailable} of {WRITES} recognitions met a lost connection");
    // A client retries a 503 after a pause, as Retry-After asks: a connection the kills ended a
    // moment ago may still be handed out once before its end is noticed.
    for key in lost {
        let mut attempt = 0;
        let r = loop {
            let r = read(recognise(key.clone()).await).await;
            if r.status != Status::ServiceUnavailable || attempt == 4 {
                break r;
            }
            assert_retryable(&r);
            attempt += 1;
            tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
        };
        assert_eq!(r.status, Status::Created, "{}", r.text);
    }
    let points = app.get("/api/v1/me/points?limit=200", &ben.token).await;
    assert_eq!(points.ok()["balance"], WRITES);
    assert_eq!(points.body["entries"].as_array().unwrap().len(), WRITES);
}

/// Exports go by their own, longer timeout (`export_statement_timeout_ms`): an export that
/// waits behind a lock for longer than requests may still completes.
#[rocket::async_test]
async fn an_export_waits_past_the_request_timeout_within_its_own() {
    let app = TestApp::with(|f| with_override(f, "db_statement_timeout_ms", 300)).await;
    let org = app.seed_org("acme").await;
    let mut lock = app.db.conn().await;
    diesel::sql_query("BEGIN").execute(&mut lock).await.unwrap();
    diesel::sql_query("LOCK TABLE ledger_entries IN ACCESS EXCLUSIVE MODE")
        .execute(&mut lock)
        .await
        .unwrap();
    let export = app.get(
        "/api/v1/exports/engagement?from=2026-01-01&to=2026-02-01",
        &org.admin.token,
    );
    let release = async {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        diesel::sql_query("COMMIT")
            .execute(&mut lock)
            .await
            .unwrap();
    };
    let started = Instant::now();
    let (r, ()) = tokio::join!(export, release);
    assert_eq!(r.status, Status::Ok, "{}", r.text);
    assert!(started.elapsed() >= Duration::from_millis(1000));
    assert!(!r.text.contains("export failed"), "{}", r.text);
    assert!(
        r.text.trim_start_matches('\u{feff}').starts_with("period,"),
        "{}",
        r.text
    );
}
