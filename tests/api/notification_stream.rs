//! The notification stream (`GET /api/v1/me/notifications/stream`, Server-Sent Events) on
//! real server processes, read as it arrives over TCP: across two processes on one database
//! (a write through one wakes a stream on the other through LISTEN/NOTIFY), resuming from
//! `Last-Event-ID` with no gap and no repeat, heartbeats, the per-member bound, shutdown and
//! a lost listener connection.

use std::time::{Duration, Instant};

use frontline::auth::Role;
use serde_json::{Value, json};

use crate::common::*;
use crate::servers::{EventReader, Server, Sse, open_stream, send_to};

const STREAM: &str = "/api/v1/me/notifications/stream";

/// Short heartbeats, and a poll far longer than any wait here: only a wake explains an event
/// that arrives within a second or two.
const ENV: &[(&str, &str)] = &[
    ("FRONTLINE_SSE_HEARTBEAT_SECS", "1"),
    ("FRONTLINE_SSE_POLL_SECS", "60"),
];

async fn recognise(port: u16, from: &Actor, to: &Actor) {
    let body = json!({ "recipients": [to.id], "message": "Thanks for the save", "points": 1 });
    let r = send_to(
        port,
        "POST",
        "/api/v1/recognitions",
        Some(&from.token),
        Some(body),
        &[],
    )
    .await
    .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
}

/// The next notification's (id, seq of its data), heartbeats and the `retry` skipped.
async fn next_notification(s: &mut EventReader, limit: Duration) -> Option<(String, i64)> {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match s.next_event(left).await? {
            Sse::Event {
                id: Some(id),
                event,
                data,
                ..
            } => {
                assert_eq!(event.as_deref(), Some("notification"));
                let n: Value = serde_json::from_str(&data).unwrap();
                assert_eq!(n["kind"], "recognition.received");
                return Some((id, n["seq"].as_i64().unwrap()));
            }
            _ => continue,
        }
    }
}

async fn stream(port: u16, who: &Actor, last: Option<&str>) -> EventReader {
    let s = open_stream(port, STREAM, &who.token, last).await.unwrap();
    assert_eq!(s.status, 200, "{:?}", s.headers);
    assert_eq!(
        s.headers.get("content-type").map(String::as_str),
        Some("text/event-stream")
    );
    assert_eq!(
        s.headers.get("x-accel-buffering").map(String::as_str),
        Some("no")
    );
    s
}

#[rocket::async_test]
async fn a_stream_on_one_process_hears_writes_through_another_and_resumes_on_either() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    recognise_in_process(&app, &ana, &ben).await; // seq 1, before the stream: not sent
    let (a, b) = tokio::join!(
        Server::start_with(&app.db.url, ENV),
        Server::start_with(&app.db.url, ENV)
    );

    let mut on_a = stream(a.port, &ben, None).await;
    // The retry hint comes first, then heartbeats while nothing happens.
    match on_a.next(Duration::from_secs(5)).await {
        Some(Sse::Event { retry, .. }) => assert_eq!(retry.as_deref(), Some("3000")),
        other => panic!("expected the retry hint, got {other:?}"),
    }
    assert_eq!(on_a.next(Duration::from_secs(3)).await, Some(Sse::Comment));

    // Written through b: on a's stream within a second or two, in order.
    for expected in 2..=4 {
        let written = Instant::now();
        recognise(b.port, &ana, &ben).await;
        let (id, seq) = next_notification(&mut on_a, Duration::from_secs(5))
            .await
            .expect("the notification arrives");
        assert_eq!((id, seq), (expected.to_string(), expected));
        assert!(
            written.elapsed() < Duration::from_secs(3),
            "arrived after {:?}",
            written.elapsed()
        );
    }
    drop(on_a);

    // Five more while the app is away; it reconnects to b with the last id it had.
    for _ in 0..5 {
        recognise(a.port, &ana, &ben).await;
    }
    let mut on_b = stream(b.port, &ben, Some("4")).await;
    let mut got = Vec::new();
    while let Some((_, seq)) = next_notification(&mut on_b, Duration::from_secs(3)).await {
        got.push(seq);
        if got.len() == 5 {
            break;
        }
    }
    assert_eq!(got, [5, 6, 7, 8, 9], "exactly what it missed");
    assert_eq!(
        next_notification(&mut on_b, Duration::from_millis(1500)).await,
        None,
        "nothing twice"
    );
    // `after` does the same; Last-Event-ID wins over it.
    let mut s = open_stream(b.port, &format!("{STREAM}?after=7"), &ben.token, Some("8"))
        .await
        .unwrap();
    assert_eq!(
        next_notification(&mut s, Duration::from_secs(3)).await,
        Some(("9".into(), 9))
    );
    let mut s = open_stream(b.port, &format!("{STREAM}?after=7"), &ben.token, None)
        .await
        .unwrap();
    assert_eq!(
        next_notification(&mut s, Duration::from_secs(3)).await,
        Some(("8".into(), 8))
    );
}

async fn recognise_in_process(app: &TestApp, from: &Actor, to: &Actor) {
    let body = json!({ "recipients": [to.id], "message": "Thanks for the save", "points": 1 });
    let r = app.post("/api/v1/recognitions", &from.token, body).await;
    assert_eq!(r.status.code, 201, "{}", r.text);
}

#[rocket::async_test]
async fn streams_are_bounded_per_member_and_refuse_strangers_and_bad_ids() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let cy = app.member(&org, "Cy", Role::Employee, None).await;
    let a = Server::start_with(&app.db.url, ENV).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(stream(a.port, &ben, None).await);
    }
    let fourth = send_to(a.port, "GET", STREAM, Some(&ben.token), None, &[])
        .await
        .unwrap();
    assert_eq!(fourth.status, 429, "{}", fourth.body);
    assert!(fourth.headers.contains_key("retry-after"));
    // Another member is not held back by Ben's.
    let _cy = stream(a.port, &cy, None).await;
    // A closed stream gives its place back.
    open.pop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = None;
    for _ in 0..20 {
        let s = open_stream(a.port, STREAM, &ben.token, None).await.unwrap();
        if s.status == 200 {
            again = Some(s);
            break;
        }
        // The server notices the closed connection at its next write (a heartbeat).
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(again.is_some(), "a closed stream's place is given back");

    let r = send_to(a.port, "GET", STREAM, None, None, &[])
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    for bad in ["x", "-1", "1.5"] {
        let r = send_to(
            a.port,
            "GET",
            STREAM,
            Some(&cy.token),
            None,
            &[("Last-Event-ID", bad)],
        )
        .await
        .unwrap();
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
        assert_eq!(r.body["errors"][0]["field"], "Last-Event-ID");
    }
    let r = send_to(
        a.port,
        "GET",
        &format!("{STREAM}?after=-3"),
        Some(&cy.token),
        None,
        &[],
    )
    .await
    .unwrap();
    assert_eq!(r.status, 422);
    assert_eq!(r.body["errors"][0]["field"], "after");
}

#[rocket::async_test]
async fn a_stream_ends_on_shutdown_and_survives_a_lost_listener() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let env = [
        ("FRONTLINE_SSE_HEARTBEAT_SECS", "1"),
        ("FRONTLINE_SSE_POLL_SECS", "2"),
    ];
    let (mut a, b) = tokio::join!(
        Server::start_with(&app.db.url, &env),
        Server::start_with(&app.db.url, &env)
    );
    let mut on_a = stream(a.port, &ben, None).await;

    // Every listener connection is cut: a's stream still gets b's write, by its poll (or by
    // the wake-everyone of the listener's reconnect).
    {
        use diesel_async::RunQueryDsl;
        let mut conn = app.db.conn().await;
        diesel::sql_query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        )
        .execute(&mut conn)
        .await
        .unwrap();
    }
    recognise(b.port, &ana, &ben).await;
    assert_eq!(
        next_notification(&mut on_a, Duration::from_secs(5)).await,
        Some(("1".into(), 1))
    );

    // SIGTERM: the stream ends within the grace period, and the process exits.
    let asked = Instant::now();
    a.terminate();
    while on_a.next(Duration::from_secs(10)).await.is_some() {}
    assert!(on_a.closed, "the stream ended");
    assert!(
        asked.elapsed() < Duration::from_secs(8),
        "{:?}",
        asked.elapsed()
    );
    assert!(a.exited(Duration::from_secs(10)).await.is_some());
}
