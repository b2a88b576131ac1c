//! Single sign-on (issue #17) through a real OpenID provider on loopback:
//! `oidc-provider-mock` with PKCE, key rotation and tampered ID tokens on top
//! (tests/receivers/oidc_provider.py, from the project venv). The browser's part is plain
//! HTTP: the start's redirect is followed to the provider, whose authorization form is posted
//! with the person chosen, and its redirect brought back to the callback.
//!
//! Covered: web and mobile sign-ins ending in tokens, a rotated signing key, a wrong
//! audience, a wrong nonce, a forged key id (keys refetched at most once), a replayed code
//! and a replayed state, email matching on and off, just-in-time members, SSO required with a
//! break-glass admin, the admins' settings (401/403/404/409/422), another organisation's
//! sign-in, a declined authorization and a deactivated member.

use std::collections::HashMap;

use frontline::auth::Role;
use rocket::http::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use crate::common::*;
use crate::peers::{self, Peer};
use crate::servers::send_to;

const BASE: &str = "http://frontline.test";
const CALLBACK: &str = "http://frontline.test/api/v1/auth/sso/callback";
const WEB: &str = "https://app.example/sso";
const MOBILE: &str = "frontline://sso";

/// The provider on loopback (tests/receivers/oidc_provider.py); killed when dropped.
struct Idp {
    _peer: Peer,
    port: u16,
}

impl Idp {
    async fn start() -> Option<Idp> {
        let imports = "oidc_provider_mock, joserfc";
        let (peer, line, _) = peers::start(imports, "oidc_provider.py", &[]).await?;
        let port = line.trim().parse().expect("a port");
        Some(Idp { _peer: peer, port })
    }

    fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let r = send_to(self.port, method, path, None, body, &[])
            .await
            .expect("the provider answers");
        assert!(r.status < 300, "{method} {path}: {}", r.status);
        r.body
    }

    /// A client registered for Frontline's callback: (id, secret).
    async fn client(&self) -> (String, String) {
        let c = self
            .send(
                "POST",
                "/oauth2/clients",
                Some(json!({ "redirect_uris": [CALLBACK] })),
            )
            .await;
        (
            c["client_id"].as_str().unwrap().to_string(),
            c["client_secret"].as_str().unwrap().to_string(),
        )
    }

    async fn user(&self, sub: &str, claims: Value) {
        self.send("PUT", &format!("/users/{sub}"), Some(claims))
            .await;
    }

    async fn rotate(&self) {
        self.send("POST", "/_rotate", Some(json!({ "keep_old": false })))
            .await;
    }

    /// The next ID token is changed so.
    async fn tamper(&self, how: Value) {
        self.send("PUT", "/_next_id_token", Some(how)).await;
    }

    async fn jwks_fetches(&self) -> i64 {
        self.send("GET", "/_stats", None).await["jwks_fetches"]
            .as_i64()
            .unwrap()
    }

    /// The person `sub` answers the provider's authorization form at `url` (the start's
    /// redirect) with `action`: where the provider sends the browser.
    async fn authorize(&self, url: &str, form: &str) -> String {
        let path = url
            .strip_prefix(&self.issuer())
            .expect("the start sends the browser to this provider");
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            self.port,
            form.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let text = String::from_utf8_lossy(&raw);
        assert!(text.starts_with("HTTP/1.1 302"), "authorize: {text}");
        text.lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.eq_ignore_ascii_case("location"))
                    .map(|(_, v)| v.trim().to_string())
            })
            .expect("a Location")
    }
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn query_of(url: &str) -> HashMap<String, String> {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

async fn get(app: &TestApp, path: &str) -> Resp {
    app.request(Method::Get, path, None, None).await
}

/// `GET /auth/sso/start`.
async fn start(app: &TestApp, slug: &str, redirect: &str, state: Option<&str>) -> Resp {
    let mut path = format!(
        "/api/v1/auth/sso/start?organisation={slug}&redirect_uri={}",
        encode(redirect)
    );
    if let Some(s) = state {
        path.push_str(&format!("&state={}", encode(s)));
    }
    get(app, &path).await
}

/// Where a sign-in lands: the callback's answer.
async fn callback(app: &TestApp, provider_location: &str) -> Resp {
    let path = provider_location
        .strip_prefix(BASE)
        .expect("the provider sends the browser to our callback");
    get(app, path).await
}

/// A whole sign-in of `sub` in the browser: the app URI the callback sends it to.
async fn sign_in(app: &TestApp, idp: &Idp, slug: &str, redirect: &str, sub: &str) -> String {
    let r = start(app, slug, redirect, Some("app-state-1")).await;
    assert_eq!(r.status.code, 302, "{}", r.text);
    let at_provider = r.header("location").unwrap().to_string();
    let back = idp
        .authorize(&at_provider, &format!("sub={}", encode(sub)))
        .await;
    let r = callback(app, &back).await;
    assert_eq!(r.status.code, 302, "{}", r.text);
    let to = r.header("location").unwrap().to_string();
    assert!(to.starts_with(redirect), "{to}");
    assert_eq!(
        query_of(&to).get("state").map(String::as_str),
        Some("app-state-1")
    );
    to
}

async fn exchange(app: &TestApp, code: &str) -> Resp {
    app.anon_post("/api/v1/auth/sso/exchange", json!({ "code": code }))
        .await
}

/// The code (or error) a sign-in came back with.
fn answer(to: &str) -> Result<String, String> {
    let q = query_of(to);
    match (q.get("code"), q.get("error")) {
        (Some(code), None) => Ok(code.clone()),
        (None, Some(error)) => Err(error.clone()),
        _ => panic!("neither code nor error: {to}"),
    }
}

/// An app with a public URL, an organisation, and the provider.
async fn world(slug: &str) -> Option<(TestApp, Org, Idp)> {
    let idp = Idp::start().await?;
    let app = TestApp::with(|f| frontline::config::with_override(f, "public_base_url", BASE)).await;
    let org = app.seed_org(slug).await;
    Some((app, org, idp))
}

/// Set `org`'s single sign-on with a new client of `idp`, plus `extra` settings.
async fn configure(app: &TestApp, org: &Org, idp: &Idp, extra: Value) -> Value {
    let (id, secret) = idp.client().await;
    let mut body = json!({
        "issuer": idp.issuer(),
        "client_id": id,
        "client_secret": secret,
        "app_redirect_uris": [WEB, MOBILE],
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = app
        .put("/api/v1/organisation/sso", &org.admin.token, body)
        .await;
    assert_eq!(r.status.code, 200, "{}", r.text);
    r.body
}

/// The service's (and its database's) time `secs` from now.
fn later(app: &TestApp, secs: i64) {
    app.clock
        .set(chrono::Utc::now() + chrono::Duration::seconds(secs));
}

async fn me(app: &TestApp, token: &str) -> Resp {
    app.get("/api/v1/me", token).await
}

#[rocket::async_test]
async fn sso_signs_in_from_the_web_and_the_mobile_app_and_hands_over_tokens_once() {
    let Some((app, org, idp)) = world("acme").await else {
        return;
    };
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let settings = configure(
        &app,
        &org,
        &idp,
        json!({ "match_email_on_first_login": true }),
    )
    .await;
    assert_eq!(settings["redirect_uri"], CALLBACK);
    assert_eq!(settings["client_secret_set"], true);
    assert!(settings.get("client_secret").is_none());
    idp.user(
        "ana-at-idp",
        json!({ "email": "ana@acme.example", "email_verified": true, "name": "Ana" }),
    )
    .await;

    // The web app: the browser goes to the provider with PKCE, a nonce and a state, and comes
    // back to the app with a one-time code and the app's own state.
    let r = start(&app, "acme", WEB, None).await;
    let to_provider = query_of(r.header("location").unwrap());
    assert_eq!(to_provider["code_challenge_method"], "S256");
    assert_eq!(to_provider["redirect_uri"], CALLBACK);
    assert!(to_provider["scope"].starts_with("openid email profile"));
    assert!(to_provider["nonce"].len() >= 43 && to_provider["state"].len() >= 43);
    assert_eq!(r.header("cache-control"), Some("no-store"));

    let to = sign_in(&app, &idp, "acme", WEB, "ana-at-idp").await;
    let code = answer(&to).unwrap();
    assert!(!to.contains("access_token") && !to.contains("id_token"));
    let tokens = exchange(&app, &code).await;
    let body = tokens.ok().clone();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(
        me(&app, body["access_token"].as_str().unwrap()).await.ok()["id"],
        ana.id.to_string()
    );
    // The refresh token works as after a password login.
    let refreshed = app
        .anon_post(
            "/api/v1/auth/refresh",
            json!({ "refresh_token": body["refresh_token"] }),
        )
        .await;
    refreshed.ok();

    // The mobile app, later: the member is found by subject now, whatever their email became.
    idp.user(
        "ana-at-idp",
        json!({ "email": "ana.lima@elsewhere.example", "email_verified": true }),
    )
    .await;
    let to = sign_in(&app, &idp, "acme", MOBILE, "ana-at-idp").await;
    assert!(to.starts_with("frontline://sso?code="), "{to}");
    let mobile = exchange(&app, &answer(&to).unwrap()).await;
    assert_eq!(
        me(&app, mobile.ok()["access_token"].as_str().unwrap())
            .await
            .ok()["id"],
        ana.id.to_string()
    );

    // The first sign-in linked Ana by email, audited.
    let audit = app
        .get("/api/v1/audit?action=sso_linked", &org.admin.token)
        .await;
    assert_eq!(audit.ok()["items"].as_array().unwrap().len(), 1);
}

#[rocket::async_test]
async fn sso_a_replayed_code_is_refused_and_ends_the_session_it_opened() {
    let Some((app, org, idp)) = world("acme").await else {
        return;
    };
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    configure(
        &app,
        &org,
        &idp,
        json!({ "match_email_on_first_login": true }),
    )
    .await;
    idp.user("ana", json!({ "email": ana.email, "email_verified": true }))
        .await;
    let code = answer(&sign_in(&app, &idp, "acme", WEB, "ana").await).unwrap();
    let first = exchange(&app, &code).await;
    let access = first.ok()["access_token"].as_str().unwrap().to_string();
    let refresh = first.body["refresh_token"].clone();
    me(&app, &access).await.ok();

    let again = exchange(&app, &code).await;
    assert!(
        again.problem(401)["detail"]
            .as_str()
            .unwrap()
            .contains("already used")
    );
    // The session the code opened is over: its access and refresh tokens with it.
    me(&app, &access).await.problem(401);
    app.anon_post("/api/v1/auth/refresh", json!({ "refresh_token": refresh }))
        .await
        .problem(401);

    // A code expires after a minute; a code nobody issued is the same 401.
    let late = answer(&sign_in(&app, &idp, "acme", WEB, "ana").await).unwrap();
    later(&app, 61);
    exchange(&app, &late).await.problem(401);
    exchange(&app, "fsc_not-a-code").await.problem(401);
    exchange(&app, "").await.invalid_field("code");
}

#[rocket::async_test]
async fn sso_a_replayed_state_is_refused() {
    let Some((app, org, idp)) = world("acme").await else {
        return;
    };
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    configure(
        &app,
        &org,
        &idp,
        json!({ "match_email_on_first_login": true }),
    )
    .await;
    idp.user("ana", json!({ "email": ana.email, "email_verified": true }))
        .await;
    let r = start(&app, "acme", WEB, None).await;
    let back = idp
        .authorize(r.header("location").unwrap(), "sub=ana")
        .await;
    let first = callback(&app, &back).await;
    assert_eq!(first.status.code, 302);
    answer(first.header("location").unwrap()).unwrap();
    // The same answer again (a replay, or the back button): the state is spent.
    let again = callback(&app, &back).await;
    assert!(
        again.problem(401)["detail"]
            .as_str()
            .unwrap()
            .contains("start it again")
    );
    // A state nobody started, and none at all.
    get(&app, "/api/v1/auth/sso/callback?code=x&state=made-up")
        .await
        .problem(401);
    get(&app, "/api/v1/auth/sso/callback?code=x")
        .await
        .invalid_field("state");
    // A started sign-in lasts 10 minutes.
    let r = start(&app, "acme", WEB, None).await;
    let back = idp
        .authorize(r.header("location").unwrap(), "sub=ana")
        .await;
    later(&app, 601);
    callback(&app, &back).await.problem(401);
}

#[rocket::async_test]
async fn sso_a_rotated_signing_key_still_validates() {
    let Some((app, org, idp)) = world("acme").await else {
        return;
    };
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    configure(
        &app,
        &org,
        &idp,
        json!({ "match_email_on_first_login": true }),
    )
    .await;
    idp.user("ana", json!({ "email": ana.email, "email_verified": true }))
        .await;
    exchange(
        &app,
        &answer(&sign_in(&app, &idp, "acme", WEB, "ana").await).unwrap(),
    )
    .await
    .ok();
    let fetched = idp.jwks_fetches().await;

    // The provider rotates: its new key (a new kid) is all it publishes now. (Our keys were
    // fetched a moment ago; an unknown kid fetches them again once 30 s have passed since.)
    idp.rotate().await;
    app.clock.advance(std::time::Duration::from_secs(31));
    let to = sign_in(&app, &idp, "acme", WEB, "ana").await;
    exchange(&app, &answer(&to).unwrap()).await.ok();
    assert_eq!(
        idp.jwks_fetches().await,
        fetched + 1,
        "the unknown kid fetched the keys once"
    );
    // The new key is cached now.
    let to = sign_in(&app, &idp, "acme", WEB, "ana").await;
    exchange(&app, &answer(&to).unwrap()).await.ok();
    assert_eq!(idp.jwks_fetches().await, fetched + 1);
}

#[rocket::async_test]
async fn sso_a_forged_key_id_cannot_make_us_hammer_the_provider() {
    let Some((app, org, idp)) = world("acme").await else {
        return;
    };
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    configure(
        &app,
        &org,
        &idp,
        json!({ "match_email_on_first_login": true }),
    )
    .await;
    idp.user("ana", json!({ "email": ana.email, "email_verified": true }))
        .await;
    sign_in(&app, &idp, "acme", WEB, "ana").await;
    let fetched = idp.jwks_fetches().await;
    for _ in 0..3 {
        idp.tamper(json!({ "kid": "nobody-publishes-this" })).await;
        let to = sign_in(&app, &idp, "acme", WEB, "ana").await;
        assert_eq!(answer(&to), Err("invalid_token".into()));
    }
    // Keys were fetched just before: none of the three fetched them again.
    assert_eq!(idp.jwks_fetches().await, fetched);
    // 30 s on, the next unknown kid fetches them once; the ones right after it do not.
    app.clock.advance(std::time::Duration::from_secs(31));
    for _ in 0..3 {
        idp.tamper(json!({ "kid": "nobody-publishes-this-either" }))
            .await;
        let to = sign_in(&app, &idp, "acme", WEB, "ana").await;
        assert_eq!(answer(&to), Err("invalid_token".into()));
    }
    assert_eq!(idp.jwks_fetches().await, fetched + 1);
    // And the real key still signs people in.
    answer(&sign_in(&app, &idp, "acme", WEB, "ana").await).unwrap();
}

#[rocket::async_test]
async fn sso_refuses_a_token_for_another_audience_or_with_another_nonce() {
    let Some((app, org, idp)) = world("acme").await else {
        return;
    };
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    configure(
        &app,
        &org,
        &idp,
        json!({ "match_email_on_first_login": true }),
    )
    .await;
    idp.user("ana", json!({ "email": ana.email, "email_verified": true }))
        .await;
    for how in [
        json!({ "claims": { "aud": "another-client" } }),
        json!({ "claims": { "aud": ["another-client", "x"] } }),
        json!({ "claims": { "nonce": "not-this-sign-ins-nonce" } }),
        json!({ "claims": { "nonce": null } }),
        json!({ "claims": { "iss": "http://127.0.0.1:1" } }),
        json!({ "claims": { "exp": 1_000_000_000 } }),
        json!({ "claims": { "azp": "another-client" } }),
    ] {
        idp.tamper(how.clone()).await;
        let to = sign_in(&app, &idp, "acme", WEB, "ana").await;
        assert_eq!(answer(&to), Err("invalid_token".into()), "{how}");
    }
    // Untampered, the same person signs in.
    answer(&sign_in(&app, &idp, "acme", WEB, "ana").await).unwrap();
}

#[rocket::async_test]
async fn sso_matches_members_by_email_only_when_the_organisation_allows_it() {
    let Some((app, org, idp)) = world("acme").await else {
        return;
    };
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    configure(&app, &org, &idp, json!({})).await;
    idp.user("ana", json!({ "email": ana.email, "email_verified": true }))
        .await;
    // Off (the default): Ana's email at the provider does not make her Ana here.
    let to = sign_in(&app, &idp, "acme", WEB, "ana").await;
    assert_eq!(answer(&to), Err("no_account".into()));

    configure(
        &app,
        &org,
        &idp,
        json!({ "match_email_on_first_login": true }),
    )
    .await;
    // On, but the provider does not vouch for the email: refused.
    idp.user(
        "ana",
        json!({ "email": ana.email, "email_verified": false }),
    )
    .await;
    assert_eq!(
        answer(&sign_in(&app, &idp, "acme", WEB, "ana").await),
        Err("no_account".into())
    );
    // Verified: linked.
    idp.user("ana", json!({ "email": ana.email, "email_verified": true }))
        .await;
    let code = answer(&sign_in(&app, &idp, "acme", WEB, "ana").await).unwrap();
    let tokens = exchange(&app, &code).await;
    assert_eq!(
        me(&app, tokens.ok()["access_token"].as_str().unwrap())
            .await
            .ok()["id"],
        ana.id.to_string()
    );
    // Another subject with Ana's email is not Ana: she is linked to hers.
    idp.user(
        "mallory",
        json!({ "email": ana.email, "email_verified": true }),
    )
    .await;
    assert_eq!(
        answer(&sign_in(&app, &idp, "acme", WEB, "mallory").await),
        Err("no_account".into())
    );
}

#[rocket::async_test]
async fn sso_creates_unknown_people_as_employees_of_the_default_team() {
    let Some((app, org, idp)) = world("acme").await else {
        return;
    };
    let team = app.team(&org, "Field Service").await;
    configure(&app, &org, &idp, json!({ "jit_team_id": team })).await;
    idp.user(
        "new-person",
        json!({ "email": "Nora@Acme.example", "email_verified": true, "name": "Nora Berg" }),
    )
    .await;
    let code = answer(&sign_in(&app, &idp, "acme", MOBILE, "new-person").await).unwrap();
    let tokens = exchange(&app, &code).await;
    let me = me(&app, tokens.ok()["access_token"].as_str().unwrap()).await;
    let me = me.ok();
    assert_eq!(me["role"], "employee");
    assert_eq!(me["email"], "nora@acme.example");
    assert_eq!(me["display_name"], "Nora Berg");
    assert_eq!(me["team_id"], team.to_string());
    let audit = app
        .get("/api/v1/audit?action=sso_member_created", &org.admin.token)
        .await;
    assert_eq!(audit.ok()["items"].as_array().unwrap().len(), 1);

    // Signing in again finds the same member; an existing member's email is never taken over
    // by just-in-time creation.
    let code = answer(&sign_in(&app, &idp, "acme", WEB, "new-person").await).unwrap();
    assert_eq!(me_id(&app, &code).await, me["id"].as_str().unwrap());
    idp.user(
        "someone",
        json!({ "email": org.admin.email, "email_verified": true }),
    )
    .await;
    assert_eq!(
        answer(&sign_in(&app, &idp, "acme", WEB, "someone").await),
        Err("no_account".into())
    );
    // No email, no member.
    idp.user("no-email", json!({ "email": null })).await;
    assert_eq!(
        answer(&sign_in(&app, &idp, "acme", WEB, "no-email").await),
        Err("no_account".into())
    );
}

async fn me_id(app: &TestApp, code: &str) -> String {
    let tokens = exchange(app, code).await;
    me(app, tokens.ok()["access_token"].as_str().unwrap())
        .await
        .ok()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[rocket::async_test]
async fn sso_required_refuses_passwords_and_pins_but_a_break_glass_admin_signs_in() {
    let Some((app, org, idp)) = world("acme").await else {
        return;
    };
    let other_admin = app.member(&org, "Olga", Role::Admin, None).await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    // Ana has a number and a PIN from before.
    app.patch(
        &format!("/api/v1/members/{}", ana.id),
        &org.admin.token,
        json!({ "employee_number": "E-1" }),
    )
    .await
    .ok();
    app.patch(
        "/api/v1/organisation",
        &org.admin.token,
        json!({ "pin_sign_in": true }),
    )
    .await
    .ok();
    app.put(
        "/api/v1/me/pin",
        &ana.token,
        json!({ "pin": "2580", "password": PASSWORD }),
    )
    .await
    .ok();

    // Required with nobody to break the glass: refused, naming the field.
    let (id, secret) = idp.client().await;
    let body = json!({ "issuer": idp.issuer(), "client_id": id, "client_secret": secret,
                       "app_redirect_uris": [WEB], "required": true });
    app.put("/api/v1/organisation/sso", &org.admin.token, body.clone())
        .await
        .invalid_field("break_glass_admins");
    let mut body = body;
    body["break_glass_admins"] = json!([ana.id]);
    app.put("/api/v1/organisation/sso", &org.admin.token, body.clone())
        .await
        .invalid_field("break_glass_admins[0]");
    body["break_glass_admins"] = json!([org.admin.id]);
    app.put("/api/v1/organisation/sso", &org.admin.token, body)
        .await
        .ok();

    let refused = app.login("acme", &ana.email, PASSWORD).await;
    assert!(
        refused.problem(401)["detail"]
            .as_str()
            .unwrap()
            .contains("single sign-on")
    );
    app.login("acme", &other_admin.email, PASSWORD)
        .await
        .problem(401);
    app.anon_post(
        "/api/v1/auth/pin-login",
        json!({ "organisation": "acme", "employee_number": "E-1", "pin": "2580" }),
    )
    .await
    .problem(401);
    // A wrong password is the usual refusal, which says nothing of single sign-on.
    let wrong = app
        .login("acme", &ana.email, "not the password at all")
        .await;
    assert!(
        !wrong.problem(401)["detail"]
            .as_str()
            .unwrap()
            .contains("single sign-on")
    );
    // The break-glass admin still signs in with their password.
    app.login("acme", &org.admin.email, PASSWORD).await.ok();

    // Single sign-on removed: passwords work again.
    let r = app
        .request(
            Method::Delete,
            "/api/v1/organisation/sso",
            Some(&org.admin.token),
            None,
        )
        .await;
    assert_eq!(r.status.code, 204);
    app.login("acme", &ana.email, PASSWORD).await.ok();
}

#[rocket::async_test]
async fn sso_settings_are_admins_and_checked_against_the_provider() {
    let Some((app, org, idp)) = world("acme").await else {
        return;
    };
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let path = "/api/v1/organisation/sso";
    get(&app, path).await.problem(401);
    app.get(path, &ana.token).await.problem(403);
    app.put(path, &ana.token, json!({})).await.problem(403);
    app.request(Method::Delete, path, Some(&ana.token), None)
        .await
        .problem(403);
    app.get(path, &org.admin.token).await.problem(404);
    app.request(Method::Delete, path, Some(&org.admin.token), None)
        .await
        .problem(404);

    let (id, secret) = idp.client().await;
    let good = json!({ "issuer": idp.issuer(), "client_id": id, "client_secret": secret,
                       "app_redirect_uris": [WEB] });
    let with = |k: &str, v: Value| {
        let mut b = good.clone();
        b[k] = v;
        b
    };
    // An issuer that does not answer, or whose document names another issuer.
    app.put(
        path,
        &org.admin.token,
        with("issuer", json!("http://127.0.0.1:9")),
    )
    .await
    .invalid_field("issuer");
    app.put(
        path,
        &org.admin.token,
        with("issuer", json!(format!("{}/other", idp.issuer()))),
    )
    .await
    .invalid_field("issuer");
    app.put(
        path,
        &org.admin.token,
        with("issuer", json!("https://169.254.169.254")),
    )
    .await
    .invalid_field("issuer");
    app.put(
        path,
        &org.admin.token,
        with("app_redirect_uris", json!(["javascript:alert(1)"])),
    )
    .await
    .invalid_field("app_redirect_uris[0]");
    app.put(path, &org.admin.token, with("app_redirect_uris", json!([])))
        .await
        .invalid_field("app_redirect_uris");
    app.put(
        path,
        &org.admin.token,
        with("subject_claim", json!("bad claim")),
    )
    .await
    .invalid_field("subject_claim");
    app.put(path, &org.admin.token, with("client_secret", Value::Null))
        .await
        .invalid_field("client_secret");
    app.put(path, &org.admin.token, with("unknown", json!(1)))
        .await
        .invalid_field("unknown");
    // Another organisation's team is no team here.
    let other = app.seed_org("other").await;
    let their_team = app.team(&other, "Theirs").await;
    app.put(
        path,
        &org.admin.token,
        with("jit_team_id", json!(their_team)),
    )
    .await
    .problem(404);

    let set = app
        .put(path, &org.admin.token, with("subject_claim", json!("oid")))
        .await;
    assert_eq!(set.ok()["subject_claim"], "oid");
    assert_eq!(set.body["issuer"], idp.issuer());
    assert_eq!(
        set.body["start_url"],
        format!("{BASE}/api/v1/auth/sso/start?organisation=acme")
    );
    // The secret never comes back, and may be left out once stored.
    let shown = app.get(path, &org.admin.token).await;
    assert!(!shown.text.contains(&secret));
    app.put(path, &org.admin.token, with("client_secret", Value::Null))
        .await
        .ok();
    let audit = app
        .get("/api/v1/audit?action=sso_configured", &org.admin.token)
        .await;
    assert_eq!(audit.ok()["items"].as_array().unwrap().len(), 2);
    assert!(!audit.text.contains(&secret));
    // The other organisation sees none of it.
    app.get(path, &other.admin.token).await.problem(404);
    let r = app
        .request(Method::Delete, path, Some(&org.admin.token), None)
        .await;
    assert_eq!(r.status.code, 204);
    app.get(path, &org.admin.token).await.problem(404);
}

#[rocket::async_test]
async fn sso_settings_need_the_servers_public_url() {
    let Some(idp) = Idp::start().await else {
        return;
    };
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let (id, secret) = idp.client().await;
    let body = json!({ "issuer": idp.issuer(), "client_id": id, "client_secret": secret,
                       "app_redirect_uris": [WEB] });
    app.put("/api/v1/organisation/sso", &org.admin.token, body)
        .await
        .problem(409);
}

#[rocket::async_test]
async fn sso_another_organisations_sign_in_cannot_be_used() {
    let Some((app, acme, idp)) = world("acme").await else {
        return;
    };
    let globex = app.seed_org("globex").await;
    let ana = app.member(&acme, "Ana", Role::Employee, None).await;
    configure(
        &app,
        &acme,
        &idp,
        json!({ "match_email_on_first_login": true }),
    )
    .await;
    configure(
        &app,
        &globex,
        &idp,
        json!({ "match_email_on_first_login": true }),
    )
    .await;
    idp.user("ana", json!({ "email": ana.email, "email_verified": true }))
        .await;

    // Acme's sign-in is started; the provider's answer to Globex's sign-in is brought to
    // Acme's state: its code was issued to Globex's client, so Acme's client cannot redeem it.
    let acme_start = start(&app, "acme", WEB, None).await;
    let acme_state = query_of(acme_start.header("location").unwrap())["state"].clone();
    let globex_start = start(&app, "globex", WEB, None).await;
    let back = idp
        .authorize(globex_start.header("location").unwrap(), "sub=ana")
        .await;
    let globex_code = query_of(&back)["code"].clone();
    let mixed = format!(
        "/api/v1/auth/sso/callback?code={}&state={}",
        encode(&globex_code),
        encode(&acme_state)
    );
    let r = get(&app, &mixed).await;
    assert_eq!(r.status.code, 302, "{}", r.text);
    assert_eq!(
        answer(r.header("location").unwrap()),
        Err("provider_error".into())
    );

    // A redirect URI registered by another organisation is not this one's.
    configure(
        &app,
        &globex,
        &idp,
        json!({ "app_redirect_uris": ["https://globex.example/sso"] }),
    )
    .await;
    start(&app, "acme", "https://globex.example/sso", None)
        .await
        .invalid_field("redirect_uri");
}

#[rocket::async_test]
async fn sso_start_checks_what_it_is_given_and_bounds_unfinished_sign_ins() {
    let Some(idp) = Idp::start().await else {
        return;
    };
    let app = TestApp::with(|f| {
        let f = frontline::config::with_override(f, "public_base_url", BASE);
        frontline::config::with_override(f, "login_max_failures_per_address", 3)
    })
    .await;
    let org = app.seed_org("acme").await;
    configure(&app, &org, &idp, json!({})).await;
    start(&app, "nowhere", WEB, None).await.problem(404);
    start(&app, "acme", "https://evil.example/sso", None)
        .await
        .invalid_field("redirect_uri");
    // Three starts per address spent (the two refusals above included), then 429.
    let r = start(&app, "acme", WEB, None).await;
    assert_eq!(r.status.code, 302);
    let r = start(&app, "acme", WEB, None).await;
    r.problem(429);
    assert!(r.header("retry-after").is_some());
    get(&app, "/api/v1/auth/sso/start")
        .await
        .invalid_field("organisation");
}

#[rocket::async_test]
async fn sso_a_declined_sign_in_and_a_deactivated_member_come_back_as_errors() {
    let Some((app, org, idp)) = world("acme").await else {
        return;
    };
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    configure(
        &app,
        &org,
        &idp,
        json!({ "match_email_on_first_login": true }),
    )
    .await;
    idp.user("ana", json!({ "email": ana.email, "email_verified": true }))
        .await;
    let r = start(&app, "acme", WEB, Some("s")).await;
    let back = idp
        .authorize(r.header("location").unwrap(), "action=deny")
        .await;
    let r = callback(&app, &back).await;
    assert_eq!(r.status.code, 302, "{}", r.text);
    let to = r.header("location").unwrap();
    assert_eq!(answer(to), Err("access_denied".into()));
    assert_eq!(query_of(to)["state"], "s");

    answer(&sign_in(&app, &idp, "acme", WEB, "ana").await).unwrap();
    let r = app
        .post_empty(
            &format!("/api/v1/members/{}/deactivate", ana.id),
            &org.admin.token,
        )
        .await;
    r.ok();
    assert_eq!(
        answer(&sign_in(&app, &idp, "acme", WEB, "ana").await),
        Err("account_disabled".into())
    );
    let _ = Uuid::nil();
}
