//! Webhooks: admins' endpoints (register, change, rotate, test, remove; who may; bad input),
//! and delivery to a real receiver on loopback that verifies every request with the
//! `standardwebhooks` library (tests/receivers/webhook_receiver.py): retries on the schedule,
//! the delivery log, redelivery, disabling after `410 Gone` or sustained failure, Slack and
//! Teams bodies, and no event lost when the server dies between commit and delivery.

use std::time::{Duration, Instant};

use frontline::auth::Role;
use rocket::http::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::*;
use crate::peers::{self, Peer};
use crate::servers::{Server, send_to};

/// The loopback receiver (tests/receivers/webhook_receiver.py); killed when dropped.
struct Receiver {
    _peer: Peer,
    port: u16,
}

impl Receiver {
    async fn start() -> Option<Receiver> {
        let (peer, line, _) = peers::start("standardwebhooks", "webhook_receiver.py", &[]).await?;
        let port = line.trim().parse().expect("a port");
        Some(Receiver { _peer: peer, port })
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks/frontline", self.port)
    }

    async fn control(&self, path: &str, body: Value) {
        let r = send_to(self.port, "PUT", path, None, Some(body), &[])
            .await
            .expect("the receiver answers");
        assert_eq!(r.status, 204);
    }

    async fn secret(&self, secret: &str) {
        self.control("/_secret", json!({ "secret": secret })).await;
    }

    async fn mode(&self, mode: &str) {
        self.control("/_mode", json!({ "mode": mode })).await;
    }

    async fn received(&self) -> Vec<Value> {
        let r = send_to(self.port, "GET", "/_received", None, None, &[])
            .await
            .expect("the receiver answers");
        r.body.as_array().cloned().unwrap_or_default()
    }

    /// What came, once at least `n` deliveries did (or the limit passed).
    async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let got = self.received().await;
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn every_type() -> Value {
    json!([
        "recognition.received",
        "recognition.boosted",
        "win.submitted",
        "win.approved",
        "badge.earned",
        "level.reached"
    ])
}

async fn register(app: &TestApp, org: &Org, body: Value) -> Value {
    let r = app.post("/api/v1/webhooks", &org.admin.token, body).await;
    assert_eq!(r.status.code, 201, "{}", r.text);
    r.body
}

async fn recognise(app: &TestApp, from: &Actor, to: &[Uuid], points: i64) -> Uuid {
    let body =
        json!({ "recipients": to, "message": "Turned a refund into a renewal", "points": points });
    let r = app.post("/api/v1/recognitions", &from.token, body).await;
    assert_eq!(r.status.code, 201, "{}", r.text);
    id_of(&r.body)
}

async fn messages(app: &TestApp, org: &Org, hook: Uuid, query: &str) -> Vec<Value> {
    let r = app
        .get(
            &format!("/api/v1/webhooks/{hook}/messages{query}"),
            &org.admin.token,
        )
        .await;
    assert_eq!(r.status.code, 200, "{}", r.text);
    r.body["items"].as_array().cloned().unwrap_or_default()
}

/// Until `hook`'s messages all satisfy `done` (or the limit passes); they are answered.
async fn settle(
    app: &TestApp,
    org: &Org,
    hook: Uuid,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + limit;
    loop {
        let got = messages(app, org, hook, "").await;
        if (!got.is_empty() && got.iter().all(&done)) || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn status_is(status: &'static str) -> impl Fn(&Value) -> bool {
    move |m| m["status"] == status
}

#[rocket::async_test]
async fn admins_register_change_rotate_and_remove_endpoints_and_see_the_secret_once() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let created = register(
        &app,
        &org,
        json!({ "url": "http://127.0.0.1:9/hooks", "event_types": ["win.approved", "recognition.received", "win.approved"],
                "description": "HR system" }),
    )
    .await;
    let id = id_of(&created);
    let secret = created["secret"].as_str().unwrap_or_default().to_string();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    assert_eq!(created["format"], "standard");
    assert_eq!(created["enabled"], true);
    assert_eq!(
        created["event_types"],
        json!(["recognition.received", "win.approved"])
    );

    let listed = app.get("/api/v1/webhooks", &org.admin.token).await;
    assert_eq!(listed.status.code, 200);
    assert_eq!(listed.body.as_array().map(Vec::len), Some(1));
    assert!(
        !listed.text.contains(&secret[6..]),
        "the secret is shown once"
    );
    let one = app
        .get(&format!("/api/v1/webhooks/{id}"), &org.admin.token)
        .await;
    assert_eq!(one.status.code, 200);
    assert!(one.body.get("secret").is_none());

    let changed = app
        .patch(
            &format!("/api/v1/webhooks/{id}"),
            &org.admin.token,
            json!({ "format": "slack", "event_types": ["badge.earned"], "enabled": false }),
        )
        .await;
    assert_eq!(changed.status.code, 200, "{}", changed.text);
    assert_eq!(changed.body["format"], "slack");
    assert_eq!(changed.body["enabled"], false);
    assert_eq!(changed.body["disabled_reason"], "admin");
    let on = app
        .patch(
            &format!("/api/v1/webhooks/{id}"),
            &org.admin.token,
            json!({ "enabled": true }),
        )
        .await;
    assert_eq!(on.body["enabled"], true);
    assert_eq!(on.body["disabled_reason"], Value::Null);

    let rotated = app
        .post_empty(
            &format!("/api/v1/webhooks/{id}/rotate-secret"),
            &org.admin.token,
        )
        .await;
    assert_eq!(rotated.status.code, 200, "{}", rotated.text);
    assert_ne!(rotated.body["secret"], json!(secret));
    assert!(rotated.body["previous_secret_until"].is_string());

    let audit = app.get("/api/v1/audit", &org.admin.token).await;
    for action in [
        "webhook_created",
        "webhook_disabled",
        "webhook_changed",
        "webhook_secret_rotated",
    ] {
        assert!(audit.text.contains(action), "{action}: {}", audit.text);
    }
    assert!(!audit.text.contains(&secret[6..]));

    let gone = app
        .request(
            Method::Delete,
            &format!("/api/v1/webhooks/{id}"),
            Some(&org.admin.token),
            None,
        )
        .await;
    assert_eq!(gone.status.code, 204);
    let after = app
        .get(&format!("/api/v1/webhooks/{id}"), &org.admin.token)
        .await;
    after.problem(404);
}

#[rocket::async_test]
async fn only_the_organisation_s_admins_manage_its_webhooks() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let other = app.seed_org("globex").await;
    let lead = app.member(&org, "Lea", Role::TeamLead, None).await;
    let hr = app.member(&org, "Hana", Role::Hr, None).await;
    let emma = app.member(&org, "Emma", Role::Employee, None).await;
    let hook = id_of(
        &register(
            &app,
            &other,
            json!({ "url": "http://127.0.0.1:9/x", "event_types": ["badge.earned"] }),
        )
        .await,
    );
    let body = json!({ "url": "http://127.0.0.1:9/x", "event_types": ["badge.earned"] });
    let msg = Uuid::new_v4();
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::Post, "/api/v1/webhooks".into(), Some(body.clone())),
        (Method::Get, "/api/v1/webhooks".into(), None),
        (Method::Get, format!("/api/v1/webhooks/{hook}"), None),
        (
            Method::Patch,
            format!("/api/v1/webhooks/{hook}"),
            Some(json!({ "enabled": false })),
        ),
        (Method::Delete, format!("/api/v1/webhooks/{hook}"), None),
        (
            Method::Post,
            format!("/api/v1/webhooks/{hook}/rotate-secret"),
            None,
        ),
        (Method::Post, format!("/api/v1/webhooks/{hook}/test"), None),
        (
            Method::Get,
            format!("/api/v1/webhooks/{hook}/messages"),
            None,
        ),
        (
            Method::Get,
            format!("/api/v1/webhooks/{hook}/attempts"),
            None,
        ),
        (
            Method::Post,
            format!("/api/v1/webhooks/{hook}/messages/{msg}/redeliver"),
            None,
        ),
    ];
    for (method, path, body) in &routes {
        let anon = app.request(*method, path, None, body.clone()).await;
        anon.problem(401);
        for who in [&lead, &hr, &emma] {
            let r = app
                .request(*method, path, Some(&who.token), body.clone())
                .await;
            r.problem(403);
        }
        // Another organisation's endpoint is not found, whatever is asked of it.
        if path.contains(&hook.to_string()) {
            let r = app
                .request(*method, path, Some(&org.admin.token), body.clone())
                .await;
            r.problem(404);
        }
    }
    // Untouched by all of that.
    let theirs = app
        .get(&format!("/api/v1/webhooks/{hook}"), &other.admin.token)
        .await;
    assert_eq!(theirs.body["enabled"], true);
}

#[rocket::async_test]
async fn bad_input_is_refused_naming_the_field() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let post = |body: Value| app.post("/api/v1/webhooks", &org.admin.token, body);
    let types = json!(["badge.earned"]);
    for url in [
        "not a url",
        "ftp://example.com/x",
        "http://user:pw@127.0.0.1/x",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[fd00::1]/hook",
        "http://192.168.1.20/hook",
    ] {
        post(json!({ "url": url, "event_types": types }))
            .await
            .invalid_field("url");
    }
    post(json!({ "url": format!("http://127.0.0.1/{}", "a".repeat(2001)), "event_types": types }))
        .await
        .invalid_field("url");
    post(json!({ "url": "http://127.0.0.1:9/x", "event_types": [] }))
        .await
        .invalid_field("event_types");
    post(json!({ "url": "http://127.0.0.1:9/x", "event_types": ["everything"] }))
        .await
        .invalid_field("event_types[0]");
    post(json!({ "url": "http://127.0.0.1:9/x", "event_types": types, "format": "discord" }))
        .await
        .invalid_field("format");
    post(json!({ "url": "http://127.0.0.1:9/x", "event_types": types, "description": "d".repeat(201) }))
        .await
        .invalid_field("description");
    post(json!({ "url": "http://127.0.0.1:9/x", "event_types": types, "secret": "mine" }))
        .await
        .problem(422);
    let hook = id_of(
        &register(
            &app,
            &org,
            json!({ "url": "http://127.0.0.1:9/x", "event_types": types }),
        )
        .await,
    );
    app.patch(
        &format!("/api/v1/webhooks/{hook}"),
        &org.admin.token,
        json!({ "url": "http://10.0.0.1/x" }),
    )
    .await
    .invalid_field("url");
    for (query, field) in [
        ("?status=lost", "status"),
        ("?limit=0", "limit"),
        ("?cursor=garbage", "cursor"),
    ] {
        app.get(
            &format!("/api/v1/webhooks/{hook}/messages{query}"),
            &org.admin.token,
        )
        .await
        .invalid_field(field);
    }
    app.get(
        &format!("/api/v1/webhooks/{hook}/attempts?message_id=nope"),
        &org.admin.token,
    )
    .await
    .invalid_field("message_id");

    // Outside development, plain http and loopback are refused too.
    let strict = TestApp::with(|f| {
        let f = frontline::config::with_override(f, "webhook_require_https", true);
        frontline::config::with_override(f, "webhook_allowed_networks", Vec::<String>::new())
    })
    .await;
    let org = strict.seed_org("acme").await;
    for url in [
        "http://example.com/x",
        "https://127.0.0.1/x",
        "https://localhost/x",
    ] {
        strict
            .post(
                "/api/v1/webhooks",
                &org.admin.token,
                json!({ "url": url, "event_types": types }),
            )
            .await
            .invalid_field("url");
    }
}

#[rocket::async_test]
async fn an_organisation_has_twenty_endpoints_at_most_even_in_a_race() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let attempts = (0..26).map(|i| {
        app.post(
            "/api/v1/webhooks",
            &org.admin.token,
            json!({ "url": format!("http://127.0.0.1:9/{i}"), "event_types": ["badge.earned"] }),
        )
    });
    let answers = futures::future::join_all(attempts).await;
    let created = answers.iter().filter(|r| r.status.code == 201).count();
    let refused = answers.iter().filter(|r| r.status.code == 409).count();
    assert_eq!((created, refused), (20, 6));
}

#[rocket::async_test]
async fn every_delivery_verifies_with_standard_webhooks_and_names_what_happened() {
    let Some(receiver) = Receiver::start().await else {
        return;
    };
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let created = register(
        &app,
        &org,
        json!({ "url": receiver.url(), "event_types": every_type() }),
    )
    .await;
    let hook = id_of(&created);
    let secret = created["secret"].as_str().unwrap_or_default().to_string();
    receiver.secret(&secret).await;

    let mut recognitions = Vec::new();
    for _ in 0..5 {
        recognitions.push(recognise(&app, &ana, &[ben.id], 5).await);
    }
    let got = receiver.wait_for(5, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 5, "{got:?}");
    for d in &got {
        assert_eq!(d["verified"], true, "{d}");
        assert_eq!(d["answered"], 200);
        assert_eq!(d["body"]["type"], "recognition.received");
        assert_eq!(d["body"]["data"]["actor"]["display_name"], "Ana");
        assert_eq!(d["body"]["data"]["members"][0]["display_name"], "Ben");
        assert_eq!(d["body"]["data"]["details"]["points"], 5);
        assert_eq!(
            d["body"]["data"]["message"],
            "Turned a refund into a renewal"
        );
    }
    let mut subjects: Vec<Uuid> = got
        .iter()
        .map(|d| {
            d["body"]["data"]["subject"]["id"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or_default()
        })
        .collect();
    subjects.sort();
    recognitions.sort();
    assert_eq!(subjects, recognitions, "each event once");

    // The log agrees: delivered, one attempt each, the ids the receiver saw.
    let log = settle(
        &app,
        &org,
        hook,
        Duration::from_secs(10),
        status_is("delivered"),
    )
    .await;
    assert_eq!(log.len(), 5);
    for m in &log {
        assert_eq!(m["status"], "delivered");
        assert_eq!(m["attempts"], 1);
        assert_eq!(m["last_attempt"]["status_code"], 200);
        assert!(got.iter().any(|d| d["id"] == m["webhook_id"]), "{m}");
    }

    // After a rotation both secrets sign for a while: a receiver still on the old one
    // verifies, and so does one on the new.
    let rotated = app
        .post_empty(
            &format!("/api/v1/webhooks/{hook}/rotate-secret"),
            &org.admin.token,
        )
        .await;
    let new_secret = rotated.body["secret"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    recognise(&app, &ana, &[ben.id], 1).await;
    let got = receiver.wait_for(6, Duration::from_secs(20)).await;
    assert_eq!(got[5]["verified"], true, "old secret: {}", got[5]);
    assert_eq!(got[5]["signatures"], 2);
    receiver.secret(&new_secret).await;
    let test = app
        .post_empty(&format!("/api/v1/webhooks/{hook}/test"), &org.admin.token)
        .await;
    assert_eq!(test.status.code, 202, "{}", test.text);
    let got = receiver.wait_for(7, Duration::from_secs(20)).await;
    assert_eq!(got[6]["verified"], true, "new secret: {}", got[6]);
    assert_eq!(got[6]["body"]["type"], "webhook.test");

    // A member who turned recognitions off in the inbox still counts for the webhook; a
    // private recognition goes to a standard endpoint, with no message.
    let body = json!({ "recipients": [ben.id], "message": "Between us", "points": 1, "visibility": "private" });
    let r = app.post("/api/v1/recognitions", &ana.token, body).await;
    assert_eq!(r.status.code, 201, "{}", r.text);
    let got = receiver.wait_for(8, Duration::from_secs(20)).await;
    assert_eq!(got[7]["body"]["data"]["message"], Value::Null, "{}", got[7]);
}

#[rocket::async_test]
async fn chat_tools_get_a_sentence_and_never_a_private_recognition() {
    let Some(receiver) = Receiver::start().await else {
        return;
    };
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben <!here>", Role::Employee, None).await;
    let slack = register(
        &app,
        &org,
        json!({ "url": receiver.url(), "event_types": ["recognition.received"], "format": "slack" }),
    )
    .await;
    receiver
        .secret(slack["secret"].as_str().unwrap_or_default())
        .await;
    let private = json!({ "recipients": [ben.id], "message": "Between us", "points": 1, "visibility": "private" });
    assert_eq!(
        app.post("/api/v1/recognitions", &ana.token, private)
            .await
            .status
            .code,
        201
    );
    recognise(&app, &ana, &[ben.id], 3).await;
    let got = receiver.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["verified"], true);
    assert_eq!(
        got[0]["body"]["text"],
        "Ana recognised Ben &lt;!here&gt; (+3 points)"
    );
    assert_eq!(
        got[0]["body"]["blocks"][1]["text"]["text"],
        "> Turned a refund into a renewal"
    );
    let hook = id_of(&slack);
    assert_eq!(
        messages(&app, &org, hook, "").await.len(),
        1,
        "the private one was never queued"
    );

    app.patch(
        &format!("/api/v1/webhooks/{hook}"),
        &org.admin.token,
        json!({ "format": "teams" }),
    )
    .await
    .ok();
    recognise(&app, &ana, &[ben.id], 2).await;
    let got = receiver.wait_for(2, Duration::from_secs(20)).await;
    let card = &got[1]["body"]["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(
        card["content"]["body"][0]["text"],
        "Ana recognised Ben <!here> (+2 points)"
    );
}

#[rocket::async_test]
async fn failures_are_retried_on_the_schedule_logged_and_redelivered_on_request() {
    let Some(receiver) = Receiver::start().await else {
        return;
    };
    let app = TestApp::with(|f| {
        frontline::config::with_override(f, "webhook_retry_schedule_secs", vec![5, 300])
    })
    .await;
    app.clock.set(chrono::Utc::now());
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let created = register(
        &app,
        &org,
        json!({ "url": receiver.url(), "event_types": ["recognition.received"] }),
    )
    .await;
    let hook = id_of(&created);
    receiver
        .secret(created["secret"].as_str().unwrap_or_default())
        .await;
    receiver.mode("fail").await;
    recognise(&app, &ana, &[ben.id], 1).await;

    let first = settle(&app, &org, hook, Duration::from_secs(20), |m| {
        m["attempts"] == 1 && m["last_attempt"].is_object()
    })
    .await;
    assert_eq!(first[0]["status"], "pending", "{first:?}");
    assert_eq!(first[0]["last_attempt"]["status_code"], 500);
    let log = app
        .get(
            &format!("/api/v1/webhooks/{hook}/attempts"),
            &org.admin.token,
        )
        .await;
    assert_eq!(log.body["items"][0]["status_code"], 500);
    assert_eq!(log.body["items"][0]["response"], "{\"error\":\"no\"}");
    let health = app
        .get(&format!("/api/v1/webhooks/{hook}"), &org.admin.token)
        .await;
    assert!(health.body["failing_since"].is_string());

    // Not before its time: nothing more until 5 s have passed on the service's clock.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().await.len(), 1);
    app.clock.advance(Duration::from_secs(6));
    // The second attempt's outcome, not only its lease: `attempts` counts an attempt when it is
    // leased, and the clock must not move on before the outcome is written (its next attempt is
    // scheduled from the time it is written).
    let first_at = first[0]["last_attempt"]["attempted_at"].clone();
    let second = settle(&app, &org, hook, Duration::from_secs(20), |m| {
        m["attempts"] == 2 && m["last_attempt"]["attempted_at"] != first_at
    })
    .await;
    assert_eq!(second[0]["status"], "pending", "{second:?}");
    app.clock.advance(Duration::from_secs(301));
    let third = settle(
        &app,
        &org,
        hook,
        Duration::from_secs(20),
        status_is("failed"),
    )
    .await;
    assert_eq!(third[0]["attempts"], 3, "the schedule ran out: {third:?}");
    assert_eq!(receiver.received().await.len(), 3);

    // Redelivered on request, now that the receiver is well: delivered, health restored.
    receiver.mode("ok").await;
    let message = third[0]["id"].as_str().unwrap_or_default().to_string();
    let again = app
        .post_empty(
            &format!("/api/v1/webhooks/{hook}/messages/{message}/redeliver"),
            &org.admin.token,
        )
        .await;
    assert_eq!(again.status.code, 202, "{}", again.text);
    let done = settle(
        &app,
        &org,
        hook,
        Duration::from_secs(20),
        status_is("delivered"),
    )
    .await;
    assert_eq!(done[0]["attempts"], 1);
    let got = receiver.received().await;
    assert!(
        got.iter()
            .all(|d| d["verified"] == true && d["id"] == got[0]["id"]),
        "same webhook-id on every attempt: {got:?}"
    );
    let health = app
        .get(&format!("/api/v1/webhooks/{hook}"), &org.admin.token)
        .await;
    assert_eq!(health.body["failing_since"], Value::Null);
    // Another organisation's message, or none, is not found.
    app.post_empty(
        &format!(
            "/api/v1/webhooks/{hook}/messages/{}/redeliver",
            Uuid::new_v4()
        ),
        &org.admin.token,
    )
    .await
    .problem(404);
}

#[rocket::async_test]
async fn an_endpoint_that_is_gone_or_keeps_failing_is_disabled_until_an_admin_enables_it() {
    let Some(receiver) = Receiver::start().await else {
        return;
    };
    let app =
        TestApp::with(|f| frontline::config::with_override(f, "webhook_disable_after_hours", 1))
            .await;
    app.clock.set(chrono::Utc::now());
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let created = register(
        &app,
        &org,
        json!({ "url": receiver.url(), "event_types": ["recognition.received"] }),
    )
    .await;
    let hook = id_of(&created);
    let path = format!("/api/v1/webhooks/{hook}");
    receiver
        .secret(created["secret"].as_str().unwrap_or_default())
        .await;

    // 410 Gone: disabled at once; what happens meanwhile is not queued.
    receiver.mode("gone").await;
    recognise(&app, &ana, &[ben.id], 1).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut state = Value::Null;
    while Instant::now() < deadline {
        state = app.get(&path, &org.admin.token).await.body;
        if state["enabled"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state["disabled_reason"], "gone", "{state}");
    recognise(&app, &ana, &[ben.id], 1).await;
    assert_eq!(messages(&app, &org, hook, "").await.len(), 1);
    app.post_empty(&format!("{path}/test"), &org.admin.token)
        .await
        .problem(409);

    // Enabled again, it keeps failing for over an hour of the service's clock: disabled.
    receiver.mode("fail").await;
    let on = app
        .patch(&path, &org.admin.token, json!({ "enabled": true }))
        .await;
    assert_eq!(on.body["enabled"], true);
    recognise(&app, &ana, &[ben.id], 1).await;
    // An attempt's outcome written (not only its lease): the failure's time is taken then, and
    // the clock must not move on before it.
    let first_fail = settle(&app, &org, hook, Duration::from_secs(20), |m| {
        m["status"] != "pending" || m["last_attempt"].is_object()
    })
    .await;
    assert!(!first_fail.is_empty());
    app.clock.advance(Duration::from_secs(2 * 3600));
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        state = app.get(&path, &org.admin.token).await.body;
        if state["enabled"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state["disabled_reason"], "failing", "{state}");

    // Back on: what waited is sent at once.
    receiver.mode("ok").await;
    app.patch(&path, &org.admin.token, json!({ "enabled": true }))
        .await
        .ok();
    let done = settle(&app, &org, hook, Duration::from_secs(20), |m| {
        m["status"] != "pending"
    })
    .await;
    assert!(done.iter().any(|m| m["status"] == "delivered"), "{done:?}");
    let state = app.get(&path, &org.admin.token).await.body;
    assert_eq!(state["failing_since"], Value::Null);
}

/// Events committed by a process that dies before delivering them (its worker off), and a
/// message whose delivery was cut off by a kill, are delivered by the processes that come
/// after: two of them, sharing the outbox, each message delivered once.
#[rocket::async_test]
async fn killing_the_server_between_commit_and_delivery_loses_no_event() {
    let Some(receiver) = Receiver::start().await else {
        return;
    };
    // The test's own in-process server delivers nothing: only the processes below do.
    let app =
        TestApp::with(|f| frontline::config::with_override(f, "webhook_delivery", false)).await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let url = receiver.url();
    let created = register(
        &app,
        &org,
        json!({ "url": url, "event_types": ["recognition.received"] }),
    )
    .await;
    let hook = id_of(&created);
    receiver
        .secret(created["secret"].as_str().unwrap_or_default())
        .await;
    let loopback = [
        ("FRONTLINE_WEBHOOK_REQUIRE_HTTPS", "false"),
        ("FRONTLINE_WEBHOOK_ALLOWED_NETWORKS", "[\"127.0.0.0/8\"]"),
        ("FRONTLINE_WEBHOOK_TIMEOUT_MS", "1000"),
    ];

    // A process that commits and never delivers (its worker off), killed.
    let mut env = loopback.to_vec();
    env.push(("FRONTLINE_WEBHOOK_DELIVERY", "false"));
    let first = Server::start_with(&app.db.url, &env).await;
    for n in 0..10 {
        let body = json!({ "recipients": [ben.id], "message": format!("Save #{n}"), "points": 1 });
        let (status, _) = first
            .call("POST", "/api/v1/recognitions", Some(&ana.token), Some(body))
            .await
            .expect("the server answers");
        assert_eq!(status, 201);
    }
    drop(first); // SIGKILL
    assert!(receiver.received().await.is_empty());

    // A process whose delivery hangs, killed mid-send.
    receiver.mode("hang").await;
    let second = Server::start_with(&app.db.url, &loopback).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while receiver.received().await.is_empty() && Instant::now() < deadline {
        // The hanging receiver records a delivery only when it answers: wait for the lease.
        let m = messages(&app, &org, hook, "").await;
        if m.iter().any(|m| m["attempts"] != 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(second);
    receiver.mode("ok").await;

    // Two processes after them: every event delivered, verified, each once.
    // They give the receiver time to answer on a loaded machine, and retry soon.
    let patient = [
        ("FRONTLINE_WEBHOOK_REQUIRE_HTTPS", "false"),
        ("FRONTLINE_WEBHOOK_ALLOWED_NETWORKS", "[\"127.0.0.0/8\"]"),
        ("FRONTLINE_WEBHOOK_TIMEOUT_MS", "8000"),
        ("FRONTLINE_WEBHOOK_RETRY_SCHEDULE_SECS", "[1, 1, 1, 1]"),
    ];
    let third = Server::start_with(&app.db.url, &patient).await;
    let fourth = Server::start_with(&app.db.url, &patient).await;
    let log = settle(
        &app,
        &org,
        hook,
        Duration::from_secs(60),
        status_is("delivered"),
    )
    .await;
    assert_eq!(log.len(), 10);
    assert!(log.iter().all(|m| m["status"] == "delivered"), "{log:?}");
    let got = receiver.received().await;
    let answered: Vec<&Value> = got.iter().filter(|d| d["answered"] == 200).collect();
    let mut ids: Vec<&str> = answered.iter().filter_map(|d| d["id"].as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 10, "{got:?}");
    assert_eq!(
        answered.len(),
        10,
        "each delivered once by the two processes: {got:?}"
    );
    assert!(got.iter().all(|d| d["verified"] == true));
    drop((third, fourth));
}

#[rocket::async_test]
async fn switching_to_a_chat_format_drops_what_a_channel_must_not_hear() {
    // No worker: the messages wait, as they would for a slow receiver.
    let app =
        TestApp::with(|f| frontline::config::with_override(f, "webhook_delivery", false)).await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let hook = id_of(
        &register(
            &app,
            &org,
            json!({ "url": "http://127.0.0.1:9/x", "event_types": ["recognition.received"] }),
        )
        .await,
    );
    let private = json!({ "recipients": [ben.id], "message": "Between us", "points": 1, "visibility": "private" });
    assert_eq!(
        app.post("/api/v1/recognitions", &ana.token, private)
            .await
            .status
            .code,
        201
    );
    let public = recognise(&app, &ana, &[ben.id], 2).await;
    assert_eq!(messages(&app, &org, hook, "").await.len(), 2);
    let r = app
        .patch(
            &format!("/api/v1/webhooks/{hook}"),
            &org.admin.token,
            json!({ "format": "slack" }),
        )
        .await;
    assert_eq!(r.status.code, 200, "{}", r.text);
    assert_eq!(r.body["pending"], 1);
    let left = messages(&app, &org, hook, "").await;
    assert_eq!(left.len(), 1);
    let mut conn = app.db.conn().await;
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Subject {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        subject_id: Uuid,
    }
    let kept: Subject =
        diesel::sql_query("SELECT subject_id FROM webhook_messages WHERE endpoint_id = $1")
            .bind::<diesel::sql_types::Uuid, _>(hook)
            .get_result(&mut conn)
            .await
            .expect("one message");
    assert_eq!(kept.subject_id, public);
}
