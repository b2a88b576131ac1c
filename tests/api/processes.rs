//! Several `frontline serve` processes on one database behave as one (issue #14, item 3):
//! each test starts real server processes of the binary beside the in-process test server.

use std::time::{Duration, Instant};

use frontline::auth::Role;
use serde_json::json;

use crate::common::*;
use crate::servers::Server;

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
