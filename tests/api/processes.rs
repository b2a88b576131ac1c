//! Several `frontline serve` processes on one database behave as one (issue #14, item 3):
//! each test starts real server processes of the binary beside the in-process test server.

use std::time::{Duration, Instant};

use frontline::auth::Role;
use futures::FutureExt;
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

/// Two server processes on the test database, every test of exactly-once below starts.
async fn two(app: &TestApp) -> (Server, Server) {
    tokio::join!(Server::start(&app.db.url), Server::start(&app.db.url))
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

async fn count(app: &TestApp, query: &str, id: uuid::Uuid) -> i64 {
    let mut conn = app.db.conn().await;
    let c: Count = diesel_async::RunQueryDsl::get_result(
        diesel::sql_query(query).bind::<diesel::sql_types::Uuid, _>(id),
        &mut conn,
    )
    .await
    .unwrap();
    c.n
}

/// `n` recognitions of `points` from `giver` to `to`, sent at once, alternately through `a` and
/// `b`; each must answer 201.
async fn recognise_through_both(a: &Server, b: &Server, giver: &str, to: &[uuid::Uuid], n: usize) {
    let sends = (0..n).map(|i| {
        let server = if i % 2 == 0 { a } else { b };
        let to = to[i % to.len()];
        server.call(
            "POST",
            "/api/v1/recognitions",
            Some(giver),
            Some(json!({ "recipients": [to], "message": "Thanks!", "points": 1 })),
        )
    });
    for r in futures::future::join_all(sends).await {
        let (status, body) = r.unwrap();
        assert_eq!(status, 201, "{body}");
    }
}

/// Failed logins through A and through B count against one budget: a guesser gets no fresh
/// one by switching processes.
#[rocket::async_test]
async fn failed_logins_through_both_processes_count_together() {
    let app = TestApp::new().await;
    app.seed_org("acme").await;
    let env = [
        ("FRONTLINE_LOGIN_MAX_FAILURES_PER_ACCOUNT", "3"),
        ("FRONTLINE_LOGIN_DELAY_BASE_MS", "60000"),
    ];
    let (a, b) = tokio::join!(
        Server::start_with(&app.db.url, &env),
        Server::start_with(&app.db.url, &env)
    );
    let wrong = json!({ "organisation": "acme", "email": "admin@acme.example", "password": "not the password" });
    for (server, expected) in [(&a, 401), (&b, 401), (&a, 401), (&b, 429), (&a, 429)] {
        let r = server
            .send("POST", "/api/v1/auth/login", None, Some(wrong.clone()), &[])
            .await
            .unwrap();
        assert_eq!(r.status, expected, "{}", r.body);
        if expected == 429 {
            assert!(r.headers.contains_key("retry-after"), "{:?}", r.headers);
        }
    }
}

/// A badge whose threshold concurrent recognitions through both processes cross is awarded
/// once, with one ledger entry for its points.
#[rocket::async_test]
async fn a_badge_crossed_through_both_processes_is_awarded_once() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let r = app
        .post(
            "/api/v1/badges",
            &org.admin.token,
            json!({ "key": "popular", "name": "Popular", "criterion": "recognitions_received",
                    "threshold": 5, "points": 7, "description": "Recognised five times" }),
        )
        .await;
    let badge = id_of(r.ok());
    let (a, b) = two(&app).await;
    recognise_through_both(&a, &b, &org.admin.token, &[ben.id], 16).await;
    let awarded = count(
        &app,
        "SELECT count(*) AS n FROM member_badges WHERE badge_id = $1",
        badge,
    )
    .await;
    assert_eq!(awarded, 1);
    let paid = count(
        &app,
        "SELECT count(*) AS n FROM ledger_entries WHERE reason = 'badge' AND member_id = $1",
        ben.id,
    )
    .await;
    assert_eq!(paid, 1);
}

/// A challenge one short of its target, then recognitions through both processes at once and
/// reads through both: completed once, each participant rewarded once.
#[rocket::async_test]
async fn a_challenge_completed_through_both_processes_pays_once() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let mut ids = Vec::new();
    for name in ["Ana", "Ben", "Cy", "Di"] {
        ids.push(app.member(&org, name, Role::Employee, None).await.id);
    }
    let r = app
        .post(
            "/api/v1/challenges",
            &org.admin.token,
            json!({ "title": "Thank each other", "scope": "organisation",
                    "metric": "recognitions_received", "target": 10, "reward_points": 25,
                    "ends_at": (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339() }),
        )
        .await;
    let challenge = id_of(r.ok());
    let (a, b) = two(&app).await;
    recognise_through_both(&a, &b, &org.admin.token, &ids, 9).await;
    let path = format!("/api/v1/challenges/{challenge}");
    let token = org.admin.token.clone();
    let reads = |port: u16| {
        let (path, token) = (path.clone(), token.clone());
        async move {
            send_to(port, "GET", &path, Some(&token), None, &[])
                .await
                .map(|r| (r.status, r.body))
        }
    };
    // Reads complete a challenge that reached its target too: race them with the writes.
    let ((), ra, rb) = tokio::join!(
        recognise_through_both(&a, &b, &org.admin.token, &ids, 20),
        reads(a.port),
        reads(b.port)
    );
    assert_eq!(ra.unwrap().0, 200);
    assert_eq!(rb.unwrap().0, 200);
    // Both processes also fold activity into challenges every second.
    let started = Instant::now();
    loop {
        let ((_, on_a), (_, on_b)) = tokio::join!(
            reads(a.port).map(Result::unwrap),
            reads(b.port).map(Result::unwrap)
        );
        if on_a["completed_at"].is_string() && on_b["completed_at"].is_string() {
            assert_eq!(on_a["completed_at"], on_b["completed_at"]);
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{on_a} {on_b}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Two more folds of each process, either of which would pay a second time if a
    // completion could be claimed twice.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let rewards = "SELECT count(*) AS n FROM ledger_entries \
                   WHERE reason = 'challenge_reward' AND source_id = $1";
    assert_eq!(count(&app, rewards, challenge).await, 4);
    for id in ids {
        let mine = count(
            &app,
            "SELECT count(*) AS n FROM ledger_entries WHERE reason = 'challenge_reward' AND member_id = $1",
            id,
        )
        .await;
        assert_eq!(mine, 1);
    }
}

/// A write with an Idempotency-Key answered by A and retried on B is replayed by B, not run
/// again; and the same key sent to both at once has one effect.
#[rocket::async_test]
async fn an_idempotency_key_retried_on_the_other_process_is_replayed() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let (a, b) = two(&app).await;
    let body = json!({ "recipients": [ben.id], "message": "Thanks!", "points": 3 });
    let send = |server: &Server, key: &str| {
        let headers = [("Idempotency-Key", key.to_string())];
        let body = body.clone();
        let token = org.admin.token.clone();
        let port = server.port;
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            send_to(
                port,
                "POST",
                "/api/v1/recognitions",
                Some(&token),
                Some(body),
                &headers,
            )
            .await
            .unwrap()
        }
    };
    let first = send(&a, "once-1").await;
    assert_eq!(first.status, 201, "{}", first.body);
    let retry = send(&b, "once-1").await;
    assert_eq!(retry.status, 201, "{}", retry.body);
    assert_eq!(
        retry.headers.get("idempotent-replayed").map(String::as_str),
        Some("true")
    );
    assert_eq!(retry.body, first.body);

    let racing = (0..10).map(|i| send(if i % 2 == 0 { &a } else { &b }, "once-2"));
    let replies = futures::future::join_all(racing).await;
    assert!(replies.iter().all(|r| r.status == 201), "{replies:?}");
    assert!(replies.windows(2).all(|w| w[0].body == w[1].body));
    let entries = count(
        &app,
        "SELECT count(*) AS n FROM ledger_entries WHERE reason = 'recognition_received' AND member_id = $1",
        ben.id,
    )
    .await;
    assert_eq!(entries, 2);
}

/// A member active in the three weeks before this one gives recognitions through both
/// processes at once this week: the week counts once (four weeks in a row, not more), and
/// the four-week badge is awarded once.
#[rocket::async_test]
async fn a_week_of_activity_through_both_processes_counts_once_in_the_streak() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    {
        let mut conn = app.db.conn().await;
        for weeks in 1..=3 {
            diesel_async::RunQueryDsl::execute(
                diesel::sql_query(
                    "INSERT INTO recognitions (organisation_id, giver_id, kind, message, points_each, created_at) \
                     VALUES ($1, $2, 'peer', 'thanks', 1, now() - make_interval(weeks => $3))",
                )
                .bind::<diesel::sql_types::Uuid, _>(org.id)
                .bind::<diesel::sql_types::Uuid, _>(ana.id)
                .bind::<diesel::sql_types::Integer, _>(weeks),
                &mut conn,
            )
            .await
            .unwrap();
        }
    }
    let (a, b) = two(&app).await;
    recognise_through_both(&a, &b, &ana.token, &[ben.id], 8).await;
    let (status, progress) = a
        .call("GET", "/api/v1/me/progress", Some(&ana.token), None)
        .await
        .unwrap();
    assert_eq!(status, 200, "{progress}");
    assert_eq!(progress["streaks"]["current_weeks"], 4, "{progress}");
    let streak_badges = count(
        &app,
        "SELECT count(*) AS n FROM member_badges mb JOIN badges b ON b.id = mb.badge_id \
         WHERE mb.member_id = $1 AND b.key = 'four_week_streak'",
        ana.id,
    )
    .await;
    assert_eq!(streak_badges, 1);
    // Every badge Ana holds was paid once: one ledger entry per badge that carries points.
    let held = count(
        &app,
        "SELECT count(*) AS n FROM member_badges mb JOIN badges b ON b.id = mb.badge_id \
         WHERE mb.member_id = $1 AND b.points > 0",
        ana.id,
    )
    .await;
    let paid = count(
        &app,
        "SELECT count(*) AS n FROM ledger_entries WHERE member_id = $1 AND reason = 'badge'",
        ana.id,
    )
    .await;
    assert_eq!(paid, held);
}
