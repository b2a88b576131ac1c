//! Issue #12, items 5-7: login throttling that holds under concurrency and across server
//! processes and does not lock the owner out; a bounded password hasher; anonymous requests
//! that wrote nothing invalidate no cached reads.

use std::net::SocketAddr;

use frontline::auth::Role;
use frontline::auth::passwords::Hasher;
use rocket::figment::Figment;
use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::Client;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::*;

const WRONG: &str = "not the password at all";

fn set(f: Figment, key: &str, value: impl serde::Serialize) -> Figment {
    frontline::config::with_override(f, key, value)
}

fn login_body(slug: &str, email: &str, password: &str) -> String {
    json!({ "organisation": slug, "email": email, "password": password }).to_string()
}

/// A login from the socket address `peer`, with `X-Real-IP: claimed` when given.
async fn login_from(
    client: &Client,
    peer: &str,
    claimed: Option<&str>,
    email: &str,
    password: &str,
) -> Resp {
    let peer: SocketAddr = peer.parse().unwrap();
    let mut req = client
        .post("/api/v1/auth/login")
        .remote(peer)
        .header(ContentType::JSON)
        .body(login_body("acme", email, password));
    if let Some(ip) = claimed {
        req = req.header(Header::new("X-Real-IP", ip.to_string()));
    }
    read(req.dispatch().await).await
}

fn statuses(rs: &[Resp]) -> (usize, usize, Vec<u16>) {
    let refused = rs
        .iter()
        .filter(|r| r.status == Status::TooManyRequests)
        .count();
    let checked = rs
        .iter()
        .filter(|r| r.status == Status::Unauthorized)
        .count();
    (checked, refused, rs.iter().map(|r| r.status.code).collect())
}

// ---- Item 5: throttling ------------------------------------------------------------------

/// Twenty wrong passwords for one account at once: the throttle reserves each attempt before
/// hashing, so no more than the free attempts reach the hasher; the rest are told to wait.
#[rocket::async_test]
async fn concurrent_wrong_passwords_beyond_the_budget_are_not_all_let_through() {
    let app = TestApp::with(|f| {
        let f = set(f, "login_max_failures_per_account", 3);
        // Every guess waits for a hashing permit (a login takes its permit first), so the
        // throttle, not the hasher, decides them all.
        let f = set(f, "password_hash_wait_ms", 60_000);
        set(f, "login_delay_base_ms", 60_000)
    })
    .await;
    app.seed_org("acme").await;
    let guesses = (0..20).map(|_| async {
        let req = app
            .client
            .post("/api/v1/auth/login")
            .header(ContentType::JSON)
            .body(login_body("acme", "admin@acme.example", WRONG));
        read(req.dispatch().await).await
    });
    let rs = futures::future::join_all(guesses).await;
    let (checked, refused, all) = statuses(&rs);
    assert_eq!(
        checked, 3,
        "exactly the free attempts were checked: {all:?}"
    );
    assert_eq!(refused, 17, "{all:?}");
    for r in rs.iter().filter(|r| r.status == Status::TooManyRequests) {
        r.problem(429);
        let retry: u64 = r.header("Retry-After").unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
    }
}

/// The same from one address against many accounts: the address budget holds under a race.
#[rocket::async_test]
async fn concurrent_guesses_from_one_address_are_not_all_let_through() {
    let app = TestApp::with(|f| {
        let f = set(f, "login_max_failures_per_address", 4);
        // As above: a guess waits for its hashing permit however loaded the machine is, so
        // the address budget decides them all (not the hasher's 503).
        set(f, "password_hash_wait_ms", 60_000)
    })
    .await;
    app.seed_org("acme").await;
    let guesses = (0..16).map(|i| {
        let client = &app.client;
        async move {
            login_from(
                client,
                "198.51.100.7:5000",
                None,
                &format!("guess{i}@acme.example"),
                WRONG,
            )
            .await
        }
    });
    let rs = futures::future::join_all(guesses).await;
    let (checked, refused, all) = statuses(&rs);
    assert_eq!((checked, refused), (4, 12), "{all:?}");
}

/// An address the shared counts refused is answered `429` at once while its wait lasts, even
/// when every hashing permit is taken: its flood does not queue for a permit ahead of other
/// people's logins (those would wait, then answer `503`).
#[rocket::async_test]
async fn a_refused_address_is_answered_before_it_waits_for_the_hasher() {
    let app = TestApp::with(|f| {
        let f = set(f, "login_max_failures_per_address", 2);
        let f = set(f, "password_hash_permits", 1);
        set(f, "password_hash_wait_ms", 30_000)
    })
    .await;
    app.seed_org("acme").await;
    let peer = "198.51.100.9:5000";
    for i in 0..2 {
        let r = login_from(
            &app.client,
            peer,
            None,
            &format!("g{i}@acme.example"),
            WRONG,
        )
        .await;
        r.problem(401);
    }
    let r = login_from(&app.client, peer, None, "g2@acme.example", WRONG).await;
    r.problem(429);

    let hasher = app.client.rocket().state::<Hasher>().unwrap();
    let held = hasher.acquire().await.unwrap();
    let started = std::time::Instant::now();
    let r = login_from(&app.client, peer, None, "g3@acme.example", WRONG).await;
    r.problem(429);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "answered without waiting for the held permit"
    );
    let retry: u64 = r.header("Retry-After").unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    drop(held);
}

/// Two server processes on one database (two Rocket instances here) share the counts: a
/// guesser gets no fresh budget by switching servers.
#[rocket::async_test]
async fn two_servers_on_one_database_share_the_counts() {
    let adjust = |f: Figment| {
        let f = set(f, "login_max_failures_per_account", 3);
        set(f, "login_delay_base_ms", 60_000)
    };
    let app = TestApp::with(adjust).await;
    app.seed_org("acme").await;
    let other = Client::tracked(frontline::rocket(adjust(figment_for(&app.db))).unwrap())
        .await
        .unwrap();
    for client in [&app.client, &other, &app.client] {
        login_from(client, "192.0.2.1:1", None, "admin@acme.example", WRONG)
            .await
            .problem(401);
    }
    for client in [&other, &app.client] {
        let r = login_from(client, "192.0.2.2:1", None, "admin@acme.example", WRONG).await;
        r.problem(429);
    }
}

/// `X-Real-IP` is believed only from a configured proxy; from anyone else each guess with a
/// made-up address would otherwise get a fresh budget. IPv6 clients are counted by /64.
#[rocket::async_test]
async fn the_address_header_counts_only_from_trusted_proxies() {
    let app = TestApp::with(|f| {
        let f = set(f, "login_max_failures_per_address", 2);
        set(f, "trusted_proxies", vec!["10.0.0.0/8", "2001:db8:ffff::1"])
    })
    .await;
    app.seed_org("acme").await;
    let c = &app.client;
    // An untrusted peer naming a new address every time: one budget, the peer's.
    for (i, claimed) in ["203.0.113.1", "203.0.113.2"].into_iter().enumerate() {
        login_from(
            c,
            "198.51.100.7:1",
            Some(claimed),
            &format!("a{i}@x.io"),
            WRONG,
        )
        .await
        .problem(401);
    }
    login_from(c, "198.51.100.7:1", Some("203.0.113.3"), "a3@x.io", WRONG)
        .await
        .problem(429);

    // Through a trusted proxy each client has a budget of its own, spent by it alone.
    for (proxy, client, neighbour) in [
        ("10.1.2.3:443", "203.0.113.50", "203.0.113.51"),
        ("[2001:db8:ffff::1]:443", "2001:db8:9::1", "2001:db8:a::1"),
    ] {
        for i in 0..2 {
            login_from(c, proxy, Some(client), &format!("b{i}@x.io"), WRONG)
                .await
                .problem(401);
        }
        login_from(c, proxy, Some(neighbour), "c@x.io", WRONG)
            .await
            .problem(401);
        login_from(c, proxy, Some(client), "d@x.io", WRONG)
            .await
            .problem(429);
    }

    // IPv6: one host holds a /64; its addresses share a budget, the next /64 does not.
    for host in ["[2001:db8:1:2::a]:1", "[2001:db8:1:2:ffff::b]:1"] {
        login_from(c, host, None, "e@x.io", WRONG)
            .await
            .problem(401);
    }
    login_from(c, "[2001:db8:1:2::c]:1", None, "f@x.io", WRONG)
        .await
        .problem(429);
    login_from(c, "[2001:db8:1:3::a]:1", None, "g@x.io", WRONG)
        .await
        .problem(401);
}

/// An attacker's failures slow further attempts on the account down (a delay that doubles,
/// answered as 429 with Retry-After), but do not lock the owner out: once the delay has
/// passed, the right password logs in, and that clears the account's count.
#[rocket::async_test]
async fn the_owner_logs_in_after_an_attackers_failures() {
    let app = TestApp::with(|f| {
        let f = set(f, "login_max_failures_per_account", 3);
        let f = set(f, "login_delay_base_ms", 2000);
        set(f, "login_max_delay_secs", 60)
    })
    .await;
    app.seed_org("acme").await;
    let c = &app.client;
    let attacker = |i: u8| format!("198.51.100.{i}:1");
    for i in 0..3 {
        login_from(c, &attacker(i), None, "admin@acme.example", WRONG)
            .await
            .problem(401);
    }
    let r = login_from(c, &attacker(9), None, "admin@acme.example", WRONG).await;
    r.problem(429);
    let retry: u64 = r.header("Retry-After").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    assert_eq!(r.body["retry_after"], retry);
    // The owner, at once, is asked to wait like anyone else...
    login_from(c, "192.0.2.80:1", None, "admin@acme.example", PASSWORD)
        .await
        .problem(429);
    // ...and gets in once the delay has passed.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    login_from(c, "192.0.2.80:1", None, "admin@acme.example", PASSWORD)
        .await
        .ok();
    // The delay doubles for a persistent guesser: 2 s, then 4 s.
    for i in 0..3 {
        login_from(c, &attacker(i), None, "admin@acme.example", WRONG)
            .await
            .problem(401);
    }
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    login_from(c, &attacker(3), None, "admin@acme.example", WRONG)
        .await
        .problem(401);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    login_from(c, &attacker(4), None, "admin@acme.example", WRONG)
        .await
        .problem(429);
}

/// A password change is throttled the same way: wrong current passwords slow the next try.
#[rocket::async_test]
async fn wrong_current_passwords_delay_a_password_change() {
    let app = TestApp::with(|f| {
        let f = set(f, "login_max_failures_per_account", 2);
        set(f, "login_delay_base_ms", 60_000)
    })
    .await;
    let org = app.seed_org("acme").await;
    let change = |current: &str| json!({ "current_password": current, "new_password": "a much better passphrase" });
    for _ in 0..2 {
        app.post("/api/v1/me/password", &org.admin.token, change(WRONG))
            .await
            .invalid_field("current_password");
    }
    let r = app
        .post("/api/v1/me/password", &org.admin.token, change(PASSWORD))
        .await;
    r.problem(429);
    assert!(r.header("Retry-After").is_some());
}

/// Guesses at the current password (someone holding a stolen session) and at the login share
/// the account's one budget: spending it on one leaves none on the other.
#[rocket::async_test]
async fn password_changes_and_logins_share_the_account_s_budget() {
    let app = TestApp::with(|f| {
        let f = set(f, "login_max_failures_per_account", 2);
        set(f, "login_delay_base_ms", 60_000)
    })
    .await;
    let org = app.seed_org("acme").await;
    let change = json!({ "current_password": WRONG, "new_password": "a much better passphrase" });
    for _ in 0..2 {
        app.post("/api/v1/me/password", &org.admin.token, change.clone())
            .await
            .invalid_field("current_password");
    }
    login_from(
        &app.client,
        "192.0.2.7:1",
        None,
        "admin@acme.example",
        WRONG,
    )
    .await
    .problem(429);
}

#[rocket::async_test]
async fn an_unusable_trusted_proxy_refuses_to_start() {
    let db = TestDb::new().await;
    let f = set(figment_for(&db), "trusted_proxies", vec!["10.0.0.0/40"]);
    let Err(e) = frontline::rocket(f) else {
        panic!("a server with an unusable trusted_proxies was built");
    };
    assert!(e.to_string().contains("trusted_proxies"), "{e}");
}

#[rocket::async_test]
async fn an_overlong_organisation_in_a_login_is_named() {
    let app = TestApp::new().await;
    app.anon_post(
        "/api/v1/auth/login",
        json!({ "organisation": "a".repeat(64), "email": "a@b.io", "password": "p" }),
    )
    .await
    .invalid_field("organisation");
}

// ---- Item 6: the password hasher ----------------------------------------------------------

/// With every hashing permit taken, whatever needs a hash waits briefly and is then answered
/// 503 with Retry-After; the account's attempt is given back (no password was checked).
#[rocket::async_test]
async fn a_saturated_hasher_answers_503_with_retry_after() {
    let app = TestApp::with(|f| {
        let f = set(f, "password_hash_permits", 1);
        let f = set(f, "password_hash_wait_ms", 50);
        set(f, "login_max_failures_per_account", 1)
    })
    .await;
    let org = app.seed_org("acme").await;
    let hasher = app.client.rocket().state::<Hasher>().unwrap();
    let held = hasher.acquire().await.unwrap();

    let busy = |r: &Resp| {
        r.problem(503);
        assert_eq!(r.header("Retry-After"), Some("1"), "{}", r.text);
        assert_eq!(r.body["retry_after"], 1);
    };
    for _ in 0..3 {
        busy(&app.login("acme", &org.admin.email, PASSWORD).await);
    }
    busy(
        &app.post(
            "/api/v1/me/password",
            &org.admin.token,
            json!({ "current_password": PASSWORD, "new_password": "a much better passphrase" }),
        )
        .await,
    );
    busy(
        &app.post(
            "/api/v1/members",
            &org.admin.token,
            json!({ "email": "new@acme.example", "display_name": "New", "role": "employee",
                    "password": "a long enough password" }),
        )
        .await,
    );
    drop(held);
    // The refused logins did not count as failures (the account's budget here is one).
    app.login("acme", &org.admin.email, PASSWORD).await.ok();
}

// ---- Item 7: the read cache ---------------------------------------------------------------

/// Requests that wrote nothing (a POST to an unknown path, a malformed or failed login, a
/// failed refresh, a refused invite) leave every organisation's cached board alone: a ledger
/// entry written behind the server's back stays hidden by the cached answer. A write through
/// the API then shows it at once.
#[rocket::async_test]
async fn anonymous_requests_that_wrote_nothing_leave_cached_boards_alone() {
    let app = TestApp::with(|f| set(f, "read_cache_ttl_ms", 600_000)).await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let path = "/api/v1/leaderboards/members?period=all";
    let top = |b: &Value| b["top"].as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(top(app.get(path, &ana.token).await.ok()), 0);
    let mut conn = app.db.conn().await;
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query(
            "INSERT INTO ledger_entries (organisation_id, member_id, team_id, points, reason, created_at) \
             SELECT $1, $2, team_id, 7, 'badge', now() FROM members WHERE id = $2",
        )
        .bind::<diesel::sql_types::Uuid, _>(org.id)
        .bind::<diesel::sql_types::Uuid, _>(ana.id),
        &mut conn,
    )
    .await
    .unwrap();

    app.anon_post("/x", json!({})).await.problem(404);
    let r = app
        .client
        .post("/api/v1/auth/login")
        .header(ContentType::JSON)
        .body("{\"organisation\": ")
        .dispatch()
        .await;
    read(r).await.problem(400);
    app.anon_post("/api/v1/auth/login", json!({ "organisation": "acme" }))
        .await
        .problem(422);
    app.login("acme", &ana.email, WRONG).await.problem(401);
    app.anon_post(
        "/api/v1/auth/refresh",
        json!({ "refresh_token": format!("frt_{}", Uuid::new_v4().simple()) }),
    )
    .await
    .problem(401);
    app.anon_post(
        "/api/v1/auth/invites/accept",
        json!({ "token": "not-an-invite", "password": "a long enough password" }),
    )
    .await
    .problem(401);
    app.post("/api/v1/teams", "not a token", json!({ "name": "X" }))
        .await
        .problem(401);
    assert_eq!(
        top(app.get(path, &ana.token).await.ok()),
        0,
        "a request that wrote nothing invalidated the cached board"
    );

    // A write to the organisation through the API invalidates it.
    app.post("/api/v1/teams", &org.admin.token, json!({ "name": "Care" }))
        .await
        .ok();
    app.let_boards_catch_up();
    assert_eq!(top(app.get(path, &ana.token).await.ok()), 1);
}

/// A re-used refresh token revokes its session: that organisation's cached sessions go, so
/// the session's access token stops working at once.
#[rocket::async_test]
async fn a_reused_refresh_token_still_cuts_its_access_tokens_off() {
    let app = TestApp::with(|f| set(f, "read_cache_ttl_ms", 600_000)).await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let r = app
        .anon_post(
            "/api/v1/auth/refresh",
            json!({ "refresh_token": ana.refresh_token }),
        )
        .await;
    let access = r.ok()["access_token"].as_str().unwrap().to_string();
    app.get("/api/v1/me", &access).await.ok();
    app.anon_post(
        "/api/v1/auth/refresh",
        json!({ "refresh_token": ana.refresh_token }),
    )
    .await
    .problem(401);
    app.get("/api/v1/me", &access).await.problem(401);
}
