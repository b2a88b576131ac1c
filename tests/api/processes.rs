//! Several `frontline serve` processes on one database behave as one (issue #14, item 3):
//! each test starts real server processes of the binary beside the in-process test server.

use std::time::{Duration, Instant};

use frontline::auth::Role;
use serde_json::{Value, json};

use crate::common::*;
use crate::servers::{Server, send_to};

const BOARD: &str = "/api/v1/leaderboards/members?period=all";

async fn my_points(server: &Server, token: &str) -> i64 {
    let (status, board) = server.call("GET", BOARD, Some(token), None).await.unwrap();
    assert_eq!(status, 200, "{board}");
    board["me"]["points"].as_i64().unwrap_or(0)
}

/// A recognition written through one process is on another process's boards, which had the
/// board cached, within a second: the write is broadcast through PostgreSQL LISTEN/NOTIFY.
#[rocket::async_test]
async fn a_point_written_through_one_process_is_on_the_others_boards() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let (a, b) = tokio::join!(Server::start(&app.db.url), Server::start(&app.db.url));

    let before = my_points(&b, &ben.token).await;
    assert_eq!(my_points(&b, &ben.token).await, before, "cached on b");

    let (status, given) = a
        .call(
            "POST",
            "/api/v1/recognitions",
            Some(&ana.token),
            Some(json!({ "recipients": [ben.id], "message": "thanks for the save", "points": 5 })),
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "{given}");
    let written = Instant::now();
    let mut seen = before;
    while seen != before + 5 && written.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        seen = my_points(&b, &ben.token).await;
    }
    assert_eq!(
        seen,
        before + 5,
        "b still serves its cached board after {:?}",
        written.elapsed()
    );
    // The contract is one second; the margin is for a loaded test machine. Without the
    // broadcast, b would serve its cached answer for the 10-minute time to live.
    assert!(
        written.elapsed() < Duration::from_secs(3),
        "on b after {:?}",
        written.elapsed()
    );
}

/// A request through `first`, retried on `second` when `first` refuses the connection or closes
/// it unanswered (a process stopping or not yet started): what a client behind a load
/// balancer sees. `Err` only when neither answers.
async fn through_either(
    first: u16,
    second: u16,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> std::io::Result<crate::servers::Reply> {
    match send_to(first, method, path, Some(token), body.clone(), headers).await {
        Ok(reply) => Ok(reply),
        Err(_) => send_to(second, method, path, Some(token), body, headers).await,
    }
}

/// A rolling restart: SIGTERM to A while load goes to both, A started again, then the same for
/// B. A client that retries on the other process when one refuses its connection sees no
/// failed request, and a request in flight on A when it is told to stop completes.
#[rocket::async_test]
async fn a_rolling_restart_of_two_processes_fails_no_request() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let url = app.db.url.clone();
    let (mut a, mut b) = tokio::join!(Server::start(&url), Server::start(&url));
    let ports = [a.port, b.port];
    let done = std::sync::atomic::AtomicBool::new(false);

    let client = |c: usize| {
        let token = ana.token.clone();
        let done = &done;
        async move {
            let mut failures = Vec::new();
            let mut answered = 0;
            let mut n = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let (first, second) = (ports[(c + n) % 2], ports[(c + n + 1) % 2]);
                let key = format!("c{c}-{n}");
                let reply = if n % 2 == 0 {
                    through_either(first, second, "GET", BOARD, &token, None, &[]).await
                } else {
                    let body = json!({
                        "title": format!("Win {key}"),
                        "description": "Called the customer back the same day.",
                        "dimension": "empathy", "channel": "phone", "journey_stage": "after",
                        "customer_value": 4, "organisation_value": 3, "ease": 2
                    });
                    let headers = [("Idempotency-Key", key.as_str())];
                    through_either(
                        first,
                        second,
                        "POST",
                        "/api/v1/initiatives",
                        &token,
                        Some(body),
                        &headers,
                    )
                    .await
                };
                match reply {
                    Ok(r) if r.status < 300 => answered += 1,
                    Ok(r) => failures.push(format!("{key}: {} {}", r.status, r.body)),
                    Err(e) => failures.push(format!("{key}: {e}")),
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (answered, failures)
        }
    };

    let restarts = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        // A read of A's that waits behind a lock while A is told to stop.
        let mut lock = app.db.conn().await;
        diesel_async::RunQueryDsl::execute(diesel::sql_query("BEGIN"), &mut lock)
            .await
            .unwrap();
        diesel_async::RunQueryDsl::execute(
            diesel::sql_query("LOCK TABLE initiatives IN ACCESS EXCLUSIVE MODE"),
            &mut lock,
        )
        .await
        .unwrap();
        let in_flight = send_to(
            a.port,
            "GET",
            "/api/v1/initiatives",
            Some(&ana.token),
            None,
            &[],
        );
        let stop_a = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            a.terminate();
            tokio::time::sleep(Duration::from_millis(700)).await;
            diesel_async::RunQueryDsl::execute(diesel::sql_query("COMMIT"), &mut lock)
                .await
                .unwrap();
        };
        let (in_flight, ()) = tokio::join!(in_flight, stop_a);
        let in_flight = in_flight.expect("the request in flight on A is answered");
        assert_eq!(in_flight.status, 200, "{}", in_flight.body);
        let told = Instant::now();
        assert!(a.exited(Duration::from_secs(15)).await.is_some(), "A stops");
        eprintln!("A stopped {:?} after its request", told.elapsed());
        let a2 = Server::start_on(&url, ports[0], &[]).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        b.terminate();
        let told = Instant::now();
        assert!(b.exited(Duration::from_secs(15)).await.is_some(), "B stops");
        eprintln!("B stopped {:?} after SIGTERM", told.elapsed());
        let b2 = Server::start_on(&url, ports[1], &[]).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (a2, b2)
    };
    let (results, _restarted) =
        tokio::join!(futures::future::join_all((0..4).map(client)), restarts);
    let answered: usize = results.iter().map(|(n, _)| n).sum();
    let failures: Vec<_> = results.into_iter().flat_map(|(_, f)| f).collect();
    assert!(answered > 20, "only {answered} answers");
    assert!(
        failures.is_empty(),
        "{} failed: {failures:#?}",
        failures.len()
    );
}
