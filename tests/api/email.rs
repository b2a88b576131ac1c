//! Email (issue #17) against a real SMTP server on loopback (aiosmtpd, with STARTTLS from a
//! throwaway CA and AUTH: tests/receivers/smtp_sink.py): invites, password resets (the same
//! answer whatever the account, bounded), change notices, the team leads' weekly digest in the
//! organisation's language, retries and permanent refusals, the admins' email log, and no
//! email lost on a restart or sent twice by two processes.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::TimeZone;
use frontline::auth::Role;
use rocket::figment::Figment;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::*;
use crate::peers::{self, Peer};
use crate::servers::Server;

const SMTP_USER: &str = "frontline";
const SMTP_PASSWORD: &str = "s3cret: pass/word";

/// The loopback SMTP server (tests/receivers/smtp_sink.py); killed when dropped.
struct Sink {
    _peer: Peer,
    port: u16,
    ca: Option<PathBuf>,
    received: Arc<Mutex<Vec<Value>>>,
    _dir: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Sink {
    /// STARTTLS required and AUTH, as a real relay would.
    async fn secure() -> Option<Sink> {
        Self::start(&[
            "--user",
            SMTP_USER,
            "--password",
            SMTP_PASSWORD,
            "--starttls",
        ])
        .await
    }

    /// `args` for smtp_sink.py; `--starttls` gets its folder added.
    async fn start(args: &[&str]) -> Option<Sink> {
        let dir = std::env::temp_dir().join(format!("frontline-smtp-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        let mut argv: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        if let Some(i) = argv.iter().position(|a| a == "--starttls") {
            argv.insert(i + 1, dir.to_string_lossy().into_owned());
        }
        let (peer, hello, rest) = peers::start("aiosmtpd, trustme", "smtp_sink.py", &argv).await?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let store = Arc::clone(&received);
        std::thread::spawn(move || {
            for line in rest.map_while(Result::ok) {
                if let Ok(message) = serde_json::from_str::<Value>(&line) {
                    store.lock().expect("the sink's list").push(message);
                }
            }
        });
        let hello: Value = serde_json::from_str(&hello).expect("the sink's first line");
        let port = hello["port"].as_u64().expect("a port") as u16;
        let ca = hello["ca"].as_str().map(PathBuf::from);
        Some(Sink {
            _peer: peer,
            port,
            ca,
            received,
            _dir: TempDir(dir),
        })
    }

    /// The SMTP URL for this sink (STARTTLS and AUTH when it asks for them).
    fn url(&self) -> String {
        match self.ca {
            Some(_) => format!(
                "smtp://{SMTP_USER}:{}@127.0.0.1:{}",
                SMTP_PASSWORD
                    .replace(':', "%3A")
                    .replace('/', "%2F")
                    .replace(' ', "%20"),
                self.port
            ),
            None => format!("smtp://127.0.0.1:{}?tls=none", self.port),
        }
    }

    /// Settings that send through this sink (as `FRONTLINE_*` for a server process).
    fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("FRONTLINE_MAIL_SMTP_URL".to_string(), self.url()),
            (
                "FRONTLINE_MAIL_FROM".into(),
                "Frontline <no-reply@frontline.test>".into(),
            ),
            (
                "FRONTLINE_MAIL_APP_URL".into(),
                "https://app.frontline.test".into(),
            ),
            ("FRONTLINE_MAIL_POLL_MS".into(), "100".into()),
        ];
        if let Some(ca) = &self.ca {
            env.push((
                "FRONTLINE_MAIL_SMTP_CA_FILE".into(),
                ca.to_string_lossy().into_owned(),
            ));
        }
        env
    }

    fn configure(&self, mut f: Figment) -> Figment {
        for (key, value) in self.env() {
            let key = key.trim_start_matches("FRONTLINE_").to_lowercase();
            f = match value.parse::<u64>() {
                Ok(number) => frontline::config::with_override(f, &key, number),
                Err(_) => frontline::config::with_override(f, &key, value),
            };
        }
        f
    }

    fn received(&self) -> Vec<Value> {
        self.received.lock().expect("the sink's list").clone()
    }

    /// Wait until at least `n` messages have arrived (at most 20 s); all of them.
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{n} emails expected, got {got:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The code after `prefix` (`finv_`, `frst_`) in an email's text.
fn code(message: &Value, prefix: &str) -> String {
    let text = message["text"].as_str().unwrap_or_default();
    let start = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} in {text}"));
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect()
}

async fn reset(app: &TestApp, body: Value) -> Resp {
    app.anon_post("/api/v1/auth/password-reset", body).await
}

#[rocket::async_test]
async fn invites_resets_and_notices_go_out_over_starttls_with_auth() {
    let Some(sink) = Sink::secure().await else {
        return;
    };
    let app = TestApp::with(|f| sink.configure(f)).await;
    let org = app.seed_org("acme").await;

    // An invite is emailed, and its token is not in the answer.
    let created = app
        .post(
            "/api/v1/members",
            &org.admin.token,
            json!({ "email": "pia@acme.example", "display_name": "Pia", "role": "employee" }),
        )
        .await;
    assert_eq!(created.status.code, 201, "{}", created.text);
    assert_eq!(created.body["invite_emailed"], true);
    assert!(
        created.body.get("invite_token").is_none(),
        "{}",
        created.text
    );
    let pia = id_of(&created.body);
    let invite = &sink.wait_for(1).await[0];
    assert_eq!(invite["to"], json!(["pia@acme.example"]));
    assert_eq!(invite["from"], "no-reply@frontline.test");
    assert_eq!(invite["tls"], true, "STARTTLS was required");
    assert_eq!(invite["auth"], SMTP_USER);
    assert!(
        invite["subject"]
            .as_str()
            .unwrap_or_default()
            .contains("invited")
    );
    assert!(
        invite["html"]
            .as_str()
            .unwrap_or_default()
            .contains("<html lang=\"en\">")
    );
    assert!(
        invite["message_id"]
            .as_str()
            .unwrap_or_default()
            .ends_with("@frontline.email>")
    );
    let token = code(invite, "finv_");
    let link = format!("https://app.frontline.test/invite?token={token}");
    assert!(invite["text"].as_str().unwrap_or_default().contains(&link));
    let accepted = app
        .anon_post(
            "/api/v1/auth/invites/accept",
            json!({ "token": token, "password": "a long new password 1" }),
        )
        .await;
    assert_eq!(accepted.status.code, 200, "{}", accepted.text);
    let first_session = accepted.body["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    // A reset: the same answer for an account and for no account; a code for the account only.
    let asked = reset(
        &app,
        json!({ "organisation": "acme", "email": "pia@acme.example" }),
    )
    .await;
    let nobody = reset(
        &app,
        json!({ "organisation": "acme", "email": "nobody@acme.example" }),
    )
    .await;
    let elsewhere = reset(
        &app,
        json!({ "organisation": "globex", "email": "pia@acme.example" }),
    )
    .await;
    for r in [&asked, &nobody, &elsewhere] {
        assert_eq!(r.status.code, 202, "{}", r.text);
        assert_eq!(r.body, asked.body);
    }
    let mail = sink.wait_for(2).await;
    let reset_mail = &mail[1];
    assert_eq!(reset_mail["to"], json!(["pia@acme.example"]));
    let code_ = code(reset_mail, "frst_");
    // A reset code is not an invite, and the other way round.
    let crossed = app
        .anon_post(
            "/api/v1/auth/invites/accept",
            json!({ "token": code_, "password": "another long password 2" }),
        )
        .await;
    crossed.problem(401);
    let weak = app
        .anon_post(
            "/api/v1/auth/password-reset/complete",
            json!({ "token": code_, "password": "short" }),
        )
        .await;
    weak.invalid_field("password");
    let done = app
        .anon_post(
            "/api/v1/auth/password-reset/complete",
            json!({ "token": code_, "password": "another long password 2" }),
        )
        .await;
    assert_eq!(done.status.code, 200, "{}", done.text);
    // Every earlier session ended; the code works once.
    app.get("/api/v1/me", &first_session).await.problem(401);
    let again = app
        .anon_post(
            "/api/v1/auth/password-reset/complete",
            json!({ "token": code_, "password": "a third long password 3" }),
        )
        .await;
    again.problem(401);
    app.login("acme", "pia@acme.example", "another long password 2")
        .await
        .ok();
    // ... and she is told her password changed.
    let mail = sink.wait_for(3).await;
    assert_eq!(mail[2]["to"], json!(["pia@acme.example"]));
    assert!(
        mail[2]["subject"]
            .as_str()
            .unwrap_or_default()
            .contains("password was changed")
    );

    // A new email address is told to the old one, partly hidden.
    let moved = app
        .patch(
            &format!("/api/v1/members/{pia}"),
            &org.admin.token,
            json!({ "email": "pia.new@acme.example" }),
        )
        .await;
    assert_eq!(moved.status.code, 200, "{}", moved.text);
    let mail = sink.wait_for(4).await;
    assert_eq!(mail[3]["to"], json!(["pia@acme.example"]));
    assert!(
        mail[3]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("p***@acme.example")
    );

    // Nothing else went out (the resets for no account sent nothing).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.received().len(), 4, "{:#?}", sink.received());

    // The admins' log: every email, sent, without its body.
    let log = app.get("/api/v1/emails", &org.admin.token).await;
    assert_eq!(log.status.code, 200, "{}", log.text);
    let items = log.body["items"].as_array().cloned().unwrap_or_default();
    let kinds: Vec<&str> = items.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "email_changed",
            "password_changed",
            "password_reset",
            "invite"
        ]
    );
    assert!(
        items
            .iter()
            .all(|e| e["status"] == "sent" && e["sent_at"].is_string())
    );
    assert!(
        !log.text.contains("frst_") && !log.text.contains("finv_"),
        "{}",
        log.text
    );
    let filtered = app
        .get(
            &format!("/api/v1/emails?member_id={pia}&status=sent&limit=1"),
            &org.admin.token,
        )
        .await;
    assert_eq!(filtered.body["items"].as_array().map(Vec::len), Some(1));
    assert!(filtered.body["next_cursor"].is_string());
    // Who may read it, and bad input.
    let ben = app.member(&org, "Ben", Role::TeamLead, None).await;
    app.get("/api/v1/emails", &ben.token).await.problem(403);
    app.request(rocket::http::Method::Get, "/api/v1/emails", None, None)
        .await
        .problem(401);
    app.get("/api/v1/emails?status=lost", &org.admin.token)
        .await
        .invalid_field("status");
    app.get("/api/v1/emails?member_id=nope", &org.admin.token)
        .await
        .invalid_field("member_id");
    let other = app.seed_org("globex").await;
    let theirs = app.get("/api/v1/emails", &other.admin.token).await;
    assert_eq!(
        theirs.body["items"],
        json!([]),
        "another organisation's log is its own"
    );
}

#[rocket::async_test]
async fn password_resets_are_bounded_per_account_and_per_address() {
    // Without email a reset is refused alike for every account; bad input names its field.
    let quiet = TestApp::new().await;
    quiet.seed_org("acme").await;
    reset(
        &quiet,
        json!({ "organisation": "acme", "email": "pia@acme.example" }),
    )
    .await
    .problem(409);
    reset(&quiet, json!({ "organisation": "acme" }))
        .await
        .invalid_field("email");
    reset(
        &quiet,
        json!({ "organisation": "acme", "email": "x@y.z", "employee_number": "E-1" }),
    )
    .await
    .invalid_field("email");
    reset(
        &quiet,
        json!({ "organisation": "", "email": "not an email" }),
    )
    .await
    .invalid_field("organisation");
    reset(
        &quiet,
        json!({ "organisation": "acme", "email": "x@y.z", "password": "p" }),
    )
    .await
    .problem(422);

    let Some(sink) = Sink::start(&[]).await else {
        return;
    };
    let app = TestApp::with(|f| {
        let f = sink.configure(f);
        frontline::config::with_override(f, "login_max_failures_per_address", 9)
    })
    .await;
    let org = app.seed_org("acme").await;
    let pia = app.member(&org, "Pia", Role::Employee, None).await;
    app.patch(
        &format!("/api/v1/members/{}", pia.id),
        &org.admin.token,
        json!({ "employee_number": "E-7" }),
    )
    .await
    .ok();
    let gone = app.member(&org, "Gone", Role::Employee, None).await;
    app.post_empty(
        &format!("/api/v1/members/{}/deactivate", gone.id),
        &org.admin.token,
    )
    .await
    .ok();

    // Five asks for one account (by email and by number): three codes (the account's budget),
    // five identical answers.
    let mut answers = Vec::new();
    for body in [
        json!({ "organisation": "acme", "email": pia.email }),
        json!({ "organisation": "acme", "employee_number": "e-7" }),
        json!({ "organisation": "acme", "email": pia.email }),
        json!({ "organisation": "acme", "email": pia.email }),
        json!({ "organisation": "acme", "employee_number": "E-7" }),
        json!({ "organisation": "acme", "email": gone.email }),
    ] {
        answers.push(reset(&app, body).await);
    }
    for r in &answers {
        assert_eq!(r.status.code, 202, "{}", r.text);
        assert_eq!(r.body, answers[0].body);
    }
    let mail = sink.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.received().len(), 3, "{:#?}", sink.received());
    assert!(mail.iter().all(|m| m["to"] == json!([pia.email])));
    // Only the newest code works.
    let codes: Vec<String> = mail.iter().map(|m| code(m, "frst_")).collect();
    for c in codes.iter().take(2) {
        let r = app
            .anon_post(
                "/api/v1/auth/password-reset/complete",
                json!({ "token": c, "password": "a long new password 1" }),
            )
            .await;
        r.problem(401);
    }
    let newest = app
        .anon_post(
            "/api/v1/auth/password-reset/complete",
            json!({ "token": codes[2], "password": "a long new password 1" }),
        )
        .await;
    assert_eq!(newest.status.code, 200, "{}", newest.text);
    // The address's budget (9 attempts, logins and resets alike) runs out: 429.
    for _ in 0..3 {
        reset(
            &app,
            json!({ "organisation": "acme", "email": "nobody@acme.example" }),
        )
        .await;
    }
    let refused = reset(
        &app,
        json!({ "organisation": "acme", "email": "nobody@acme.example" }),
    )
    .await;
    refused.problem(429);
    assert!(refused.header("retry-after").is_some());
}

#[rocket::async_test]
async fn leads_get_a_weekly_digest_in_their_organisations_language_once() {
    let Some(sink) = Sink::start(&[]).await else {
        return;
    };
    let app = TestApp::with(|f| {
        let f = sink.configure(f);
        frontline::config::with_override(f, "mail_digest_check_secs", 1)
    })
    .await;
    let oslo = chrono_tz::Europe::Oslo;
    let at = |d: u32, h: u32, m: u32| {
        oslo.with_ymd_and_hms(2026, 12, d, h, m, 0)
            .single()
            .expect("a time in Oslo")
            .with_timezone(&chrono::Utc)
    };
    app.clock.set(at(2, 12, 0));
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let bad = app
        .patch(
            "/api/v1/organisation",
            &org.admin.token,
            json!({ "language": "sv" }),
        )
        .await;
    bad.invalid_field("language");
    let set = app
        .patch(
            "/api/v1/organisation",
            &org.admin.token,
            json!({ "language": "nb", "weekly_lead_digest": true }),
        )
        .await;
    assert_eq!(set.status.code, 200, "{}", set.text);
    assert_eq!(set.body["language"], "nb");
    assert_eq!(set.body["weekly_lead_digest"], true);
    let team = app.team(&org, "Kundesenter").await;
    let lead = app.member(&org, "Lea", Role::TeamLead, Some(team)).await;
    let ana = app.member(&org, "Ana", Role::Employee, Some(team)).await;
    let ben = app.member(&org, "Ben", Role::Employee, Some(team)).await;
    app.member(&org, "Cy", Role::Employee, Some(team)).await;
    // Wednesday of the week before: Ana recognises Ben.
    let r = app
        .post(
            "/api/v1/recognitions",
            &ana.token,
            json!({ "recipients": [ben.id], "message": "Saved a furious customer's day", "points": 5 }),
        )
        .await;
    assert_eq!(r.status.code, 201, "{}", r.text);

    // Monday 06:30 in Oslo: not yet.
    app.clock.set(at(7, 6, 30));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(sink.received().is_empty(), "{:#?}", sink.received());
    // Monday 08:00: the digest, in Norwegian, to the lead only.
    app.clock.set(at(7, 8, 0));
    let digest = sink.wait_for(1).await[0].clone();
    assert_eq!(digest["to"], json!([lead.email]));
    let subject = digest["subject"].as_str().unwrap_or_default();
    assert!(
        subject.starts_with("Uka til Kundesenter i Frontline: 1 anerkjennelser"),
        "{subject}"
    );
    let text = digest["text"].as_str().unwrap_or_default();
    assert!(text.contains("fra 2026-11-30 til 2026-12-06"), "{text}");
    assert!(text.contains("(5 poeng)"), "{text}");
    assert!(
        text.contains("Ikke anerkjent de siste 30 dagene: Ana, Cy."),
        "{text}"
    );
    assert!(
        !text.contains("furious"),
        "no recognition's message is in a digest"
    );
    assert!(
        digest["html"]
            .as_str()
            .unwrap_or_default()
            .contains("<html lang=\"nb\">")
    );
    // Every look after finds it queued already: one digest a week.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(sink.received().len(), 1, "{:#?}", sink.received());
}

#[rocket::async_test]
async fn failures_are_retried_and_a_permanent_refusal_fails_the_email() {
    let Some(flaky) = Sink::start(&["--fail-first", "1"]).await else {
        return;
    };
    let Some(refusing) = Sink::start(&["--reject"]).await else {
        return;
    };
    for (sink, expect) in [(&flaky, "sent"), (&refusing, "failed")] {
        let app = TestApp::with(|f| {
            let f = sink.configure(f);
            frontline::config::with_override(f, "mail_retry_schedule_secs", vec![1, 1])
        })
        .await;
        let org = app.seed_org("acme").await;
        let created = app
            .post(
                "/api/v1/members",
                &org.admin.token,
                json!({ "email": "pia@acme.example", "display_name": "Pia", "role": "employee" }),
            )
            .await;
        assert_eq!(created.status.code, 201, "{}", created.text);
        let deadline = Instant::now() + Duration::from_secs(20);
        let email = loop {
            let log = app.get("/api/v1/emails", &org.admin.token).await;
            let email = log.body["items"][0].clone();
            if email["status"] != "pending" {
                break email;
            }
            assert!(Instant::now() < deadline, "still pending: {email}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(email["status"], expect, "{email}");
        if expect == "sent" {
            assert_eq!(email["attempts"], 2, "one 451, then sent: {email}");
            assert_eq!(flaky.received().len(), 1);
        } else {
            assert_eq!(email["attempts"], 1, "a 550 is not tried again: {email}");
            assert!(
                email["last_error"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("550"),
                "{email}"
            );
        }
    }
}

#[rocket::async_test]
async fn queued_email_survives_a_restart_and_two_processes_send_each_once() {
    let Some(sink) = Sink::start(&[]).await else {
        return;
    };
    // This server queues and never sends (as a process that died before sending).
    let app = TestApp::with(|f| {
        let f = sink.configure(f);
        frontline::config::with_override(f, "mail_delivery", false)
    })
    .await;
    let org = app.seed_org("acme").await;
    for i in 0..12 {
        let r = app
            .post(
                "/api/v1/members",
                &org.admin.token,
                json!({ "email": format!("m{i}@acme.example"), "display_name": format!("M{i}"),
                        "role": "employee" }),
            )
            .await;
        assert_eq!(r.status.code, 201, "{}", r.text);
    }
    // A change that rolls back queues nothing: the invite is written in its transaction.
    {
        use diesel_async::AsyncConnection;
        let mut conn = app.db.conn().await;
        let mail = frontline::mail::Mail::on(None);
        let (org_id, admin, ttl) = (org.id, org.admin.id, chrono::Duration::hours(1));
        let rolled_back = conn
            .transaction::<(), frontline::error::AppError, _>(async |conn| {
                frontline::members::queries::issue_invite(conn, &mail, org_id, admin, ttl, admin)
                    .await?;
                Err(frontline::error::AppError::conflict("changed my mind"))
            })
            .await;
        assert!(rolled_back.is_err());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(sink.received().is_empty());

    let env: Vec<(String, String)> = sink.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let first = Server::start_with(&app.db.url, &env).await;
    let second = Server::start_with(&app.db.url, &env).await;
    let mail = sink.wait_for(12).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let mail = if sink.received().len() > mail.len() {
        sink.received()
    } else {
        mail
    };
    let mut ids: Vec<&str> = mail
        .iter()
        .filter_map(|m| m["message_id"].as_str())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(mail.len(), 12, "each email once: {mail:#?}");
    assert_eq!(ids.len(), 12);
    drop((first, second));
}

#[rocket::async_test]
async fn settings_that_cannot_send_are_refused_without_repeating_the_password() {
    let db = TestDb::new().await;
    let f = figment_for(&db);
    let f = frontline::config::with_override(
        f,
        "mail_smtp_url",
        "smtp://user:hunter2-secret@127.0.0.1:2525",
    );
    let Err(e) = frontline::rocket(f.clone()) else {
        panic!("no mail_from: refused");
    };
    let said = e.to_string();
    assert!(
        said.contains("mail_from") && !said.contains("hunter2"),
        "{said}"
    );
    let f = frontline::config::with_override(f, "mail_from", "Frontline <no-reply@frontline.test>");
    let bad = frontline::config::with_override(f.clone(), "mail_smtp_url", "ftp://hunter2@x");
    let Err(e) = frontline::rocket(bad) else {
        panic!("not an SMTP URL: refused");
    };
    assert!(!e.to_string().contains("hunter2"), "{e}");
    assert!(frontline::rocket(f).is_ok());
}
