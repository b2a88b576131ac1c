//! Login, tokens, refresh rotation, logout, throttling and password changes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use frontline::auth::Role;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use rocket::http::{ContentType, Header as HttpHeader, Status};
use serde_json::{Value, json};

use crate::common::*;

const TEST_SECRET: &str = "test-secret-test-secret-test-secret-0123";

#[rocket::async_test]
async fn login_returns_a_bearer_token_pair_that_works() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let r = app.login("acme", "admin@acme.example", PASSWORD).await;
    let body = r.ok();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["refresh_token"].as_str().unwrap().starts_with("frt_"));
    let token = body["access_token"].as_str().unwrap();

    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::HS256);
    assert!(
        header.kid.is_some(),
        "tokens carry a key id so keys can rotate"
    );
    let claims = claims_of(token);
    for claim in ["iss", "aud", "sub", "iat", "exp", "org", "role", "sid"] {
        assert!(claims.get(claim).is_some(), "missing claim {claim}");
    }
    assert_eq!(claims["org"], org.id.to_string());
    assert_eq!(claims["role"], "admin");
    let ttl = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert_eq!(ttl, 900);

    let me = app.get("/api/v1/me", token).await;
    assert_eq!(me.ok()["email"], "admin@acme.example");
}

#[rocket::async_test]
async fn login_is_case_insensitive_on_email_and_slug() {
    let app = TestApp::new().await;
    app.seed_org("acme").await;
    app.login("ACME", "Admin@Acme.Example", PASSWORD).await.ok();
}

#[rocket::async_test]
async fn wrong_password_unknown_email_and_unknown_org_look_the_same() {
    let app = TestApp::new().await;
    app.seed_org("acme").await;
    let wrong_password = app
        .login("acme", "admin@acme.example", "not the password at all")
        .await;
    let unknown_email = app.login("acme", "nobody@acme.example", PASSWORD).await;
    let unknown_org = app.login("nope", "admin@acme.example", PASSWORD).await;
    let details: Vec<Value> = [&wrong_password, &unknown_email, &unknown_org]
        .iter()
        .map(|r| r.problem(401)["detail"].clone())
        .collect();
    assert!(details.windows(2).all(|w| w[0] == w[1]), "{details:?}");
    assert_eq!(wrong_password.header("WWW-Authenticate"), Some("Bearer"));
}

#[rocket::async_test]
async fn login_validates_input_and_names_fields() {
    let app = TestApp::new().await;
    app.anon_post(
        "/api/v1/auth/login",
        json!({ "organisation": "acme", "email": "x@y.io" }),
    )
    .await
    .invalid_field("password");
    app.anon_post(
        "/api/v1/auth/login",
        json!({ "organisation": "acme", "email": "x@y.io", "password": "p", "remember": true }),
    )
    .await
    .invalid_field("remember");
    app.anon_post(
        "/api/v1/auth/login",
        json!({ "organisation": "acme", "email": 42, "password": "p" }),
    )
    .await
    .invalid_field("email");
    app.anon_post(
        "/api/v1/auth/login",
        json!({ "organisation": "", "email": "not-an-email", "password": "" }),
    )
    .await
    .invalid_field("email");
}

#[rocket::async_test]
async fn malformed_json_wrong_media_type_and_huge_bodies_are_refused_clearly() {
    let app = TestApp::new().await;
    let r = app
        .client
        .post("/api/v1/auth/login")
        .header(ContentType::JSON)
        .body("{\"organisation\": ")
        .dispatch()
        .await;
    read(r).await.problem(400);

    let r = app
        .client
        .post("/api/v1/auth/login")
        .header(ContentType::Text)
        .body("organisation=acme")
        .dispatch()
        .await;
    read(r).await.problem(415);

    let huge = format!(
        "{{\"organisation\":\"acme\",\"email\":\"a@b.io\",\"password\":\"{}\"}}",
        "x".repeat(200 * 1024)
    );
    let r = app
        .client
        .post("/api/v1/auth/login")
        .header(ContentType::JSON)
        .body(huge)
        .dispatch()
        .await;
    read(r).await.problem(413);
}

#[rocket::async_test]
async fn repeated_failures_on_one_account_answer_429_with_retry_after() {
    let app = TestApp::new().await;
    app.seed_org("acme").await;
    for _ in 0..5 {
        app.login("acme", "admin@acme.example", "wrong password here")
            .await
            .problem(401);
    }
    let r = app.login("acme", "admin@acme.example", PASSWORD).await;
    r.problem(429);
    let retry: u64 = r.header("Retry-After").unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry));
    assert_eq!(r.body["retry_after"], retry);
    // Another account is not affected by the first one's failures.
    let org_b = app.seed_org("other").await;
    app.login("other", &org_b.admin.email, PASSWORD).await.ok();
}

#[rocket::async_test]
async fn repeated_failures_from_one_address_answer_429() {
    let app =
        TestApp::with(|f| frontline::config::with_override(f, "login_max_failures_per_address", 3))
            .await;
    app.seed_org("acme").await;
    let from = |email: &str| {
        let body =
            json!({ "organisation": "acme", "email": email, "password": "wrong password here" });
        app.client
            .post("/api/v1/auth/login")
            .header(ContentType::JSON)
            // The socket's address: X-Real-IP counts only from a trusted proxy.
            .remote("203.0.113.9:4000".parse().unwrap())
            .body(body.to_string())
    };
    for i in 0..3 {
        read(from(&format!("guess{i}@acme.example")).dispatch().await)
            .await
            .problem(401);
    }
    let r = read(from("another@acme.example").dispatch().await).await;
    r.problem(429);
    assert!(r.header("Retry-After").is_some());
    // A different address still gets through.
    app.login("acme", "admin@acme.example", PASSWORD).await.ok();
}

#[rocket::async_test]
async fn refresh_rotates_and_reuse_revokes_the_whole_family() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let first = org.admin.refresh_token.clone();

    let r = app
        .anon_post("/api/v1/auth/refresh", json!({ "refresh_token": first }))
        .await;
    let second = r.ok()["refresh_token"].as_str().unwrap().to_string();
    let access = r.body["access_token"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    app.get("/api/v1/me", &access).await.ok();

    // The first token comes back: someone copied it. The whole session dies.
    let r = app
        .anon_post("/api/v1/auth/refresh", json!({ "refresh_token": first }))
        .await;
    r.problem(401);
    app.anon_post("/api/v1/auth/refresh", json!({ "refresh_token": second }))
        .await
        .problem(401);
    app.get("/api/v1/me", &access).await.problem(401);
    app.get("/api/v1/me", &org.admin.token).await.problem(401);
}

#[rocket::async_test]
async fn concurrent_refreshes_of_one_token_let_exactly_one_through() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let token = org.admin.refresh_token.clone();
    let body = json!({ "refresh_token": token }).to_string();
    let requests = (0..8).map(|_| {
        app.client
            .post("/api/v1/auth/refresh")
            .header(ContentType::JSON)
            .body(body.clone())
            .dispatch()
    });
    let responses = futures::future::join_all(requests).await;
    let statuses: Vec<Status> = responses.iter().map(|r| r.status()).collect();
    let ok = statuses.iter().filter(|s| **s == Status::Ok).count();
    // None at all would pass "at most one" while refresh is broken: the rotation serialises
    // on the token's row, so the first one through wins and the rest see a used token.
    assert_eq!(ok, 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == Status::Ok || *s == Status::Unauthorized),
        "{statuses:?}"
    );
}

#[rocket::async_test]
async fn unknown_and_empty_refresh_tokens_are_refused() {
    let app = TestApp::new().await;
    app.anon_post(
        "/api/v1/auth/refresh",
        json!({ "refresh_token": "frt_nope" }),
    )
    .await
    .problem(401);
    app.anon_post("/api/v1/auth/refresh", json!({ "refresh_token": "" }))
        .await
        .invalid_field("refresh_token");
    app.anon_post("/api/v1/auth/refresh", json!({}))
        .await
        .invalid_field("refresh_token");
}

#[rocket::async_test]
async fn logout_ends_the_session_but_not_others() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let other = app
        .login_actor("acme", org.admin.id, &org.admin.email)
        .await;
    let r = app
        .post_empty("/api/v1/auth/logout", &org.admin.token)
        .await;
    assert_eq!(r.status, Status::NoContent);
    app.get("/api/v1/me", &org.admin.token).await.problem(401);
    app.anon_post(
        "/api/v1/auth/refresh",
        json!({ "refresh_token": org.admin.refresh_token }),
    )
    .await
    .problem(401);
    app.get("/api/v1/me", &other.token).await.ok();
    let r = app
        .request(
            rocket::http::Method::Post,
            "/api/v1/auth/logout",
            None,
            None,
        )
        .await;
    r.problem(401);
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn sign(claims: &Value, key: &[u8], alg: Algorithm, kid: Option<String>) -> String {
    let mut header = Header::new(alg);
    header.kid = kid;
    encode(&header, claims, &EncodingKey::from_secret(key)).unwrap()
}

// Each forgery is built next to the claims it changes; a vec![] literal would separate them.
#[allow(clippy::vec_init_then_push)]
#[rocket::async_test]
async fn tampered_tokens_are_refused() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let other = app.seed_org("other").await;
    let good = org.admin.token.clone();
    let kid = jsonwebtoken::decode_header(&good).unwrap().kid;
    let claims = claims_of(&good);
    // The untouched token works, and so does one re-signed with the real key: the forgeries
    // below fail for the reason they name, not because our signing differs.
    app.get("/api/v1/me", &good).await.ok();
    let resigned = sign(
        &claims,
        TEST_SECRET.as_bytes(),
        Algorithm::HS256,
        kid.clone(),
    );
    app.get("/api/v1/me", &resigned).await.ok();

    let now = chrono::Utc::now().timestamp();
    let mut forged: Vec<(&str, String)> = Vec::new();
    forged.push((
        "wrong key",
        sign(
            &claims,
            b"another-secret-another-secret-0123456",
            Algorithm::HS256,
            kid.clone(),
        ),
    ));
    forged.push((
        "HS512 instead of HS256",
        sign(
            &claims,
            TEST_SECRET.as_bytes(),
            Algorithm::HS512,
            kid.clone(),
        ),
    ));
    forged.push((
        "no key id",
        sign(&claims, TEST_SECRET.as_bytes(), Algorithm::HS256, None),
    ));
    forged.push((
        "unknown key id",
        sign(
            &claims,
            TEST_SECRET.as_bytes(),
            Algorithm::HS256,
            Some("0000".into()),
        ),
    ));
    let mut expired = claims.clone();
    expired["iat"] = json!(now - 3600);
    expired["exp"] = json!(now - 120);
    forged.push((
        "expired",
        sign(
            &expired,
            TEST_SECRET.as_bytes(),
            Algorithm::HS256,
            kid.clone(),
        ),
    ));
    let mut audience = claims.clone();
    audience["aud"] = json!("someone-else");
    forged.push((
        "wrong audience",
        sign(
            &audience,
            TEST_SECRET.as_bytes(),
            Algorithm::HS256,
            kid.clone(),
        ),
    ));
    let mut issuer = claims.clone();
    issuer["iss"] = json!("evil");
    forged.push((
        "wrong issuer",
        sign(
            &issuer,
            TEST_SECRET.as_bytes(),
            Algorithm::HS256,
            kid.clone(),
        ),
    ));
    let mut no_exp = claims.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    forged.push((
        "no expiry",
        sign(
            &no_exp,
            TEST_SECRET.as_bytes(),
            Algorithm::HS256,
            kid.clone(),
        ),
    ));
    let mut cross_tenant = claims.clone();
    cross_tenant["org"] = json!(other.id.to_string());
    forged.push((
        "member of another organisation",
        sign(
            &cross_tenant,
            TEST_SECRET.as_bytes(),
            Algorithm::HS256,
            kid.clone(),
        ),
    ));
    let header =
        URL_SAFE_NO_PAD.encode(json!({ "alg": "none", "typ": "JWT", "kid": kid }).to_string());
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    forged.push(("alg none", format!("{header}.{payload}.")));
    let parts: Vec<&str> = good.split('.').collect();
    let mut elevated = claims.clone();
    elevated["sub"] = json!(other.admin.id.to_string());
    forged.push((
        "payload swapped, signature kept",
        format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(elevated.to_string()),
            parts[2]
        ),
    ));
    forged.push(("garbage", "not.a.token".into()));

    for (what, token) in forged {
        let r = app.get("/api/v1/me", &token).await;
        assert_eq!(r.status, Status::Unauthorized, "{what}: {}", r.text);
        r.problem(401);
    }
    let expired_token = sign(&expired, TEST_SECRET.as_bytes(), Algorithm::HS256, kid);
    let r = app.get("/api/v1/me", &expired_token).await;
    assert!(r.body["detail"].as_str().unwrap().contains("expired"));
}

#[rocket::async_test]
async fn missing_or_malformed_authorization_is_401() {
    let app = TestApp::new().await;
    let r = app
        .request(rocket::http::Method::Get, "/api/v1/me", None, None)
        .await;
    r.problem(401);
    assert_eq!(r.header("WWW-Authenticate"), Some("Bearer"));
    let r = app
        .client
        .get("/api/v1/me")
        .header(HttpHeader::new("Authorization", "Basic YWRtaW46YWRtaW4="))
        .dispatch()
        .await;
    read(r).await.problem(401);
}

#[rocket::async_test]
async fn deactivated_members_lose_access_at_once() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    app.get("/api/v1/me", &ana.token).await.ok();
    app.post_empty(
        &format!("/api/v1/members/{}/deactivate", ana.id),
        &org.admin.token,
    )
    .await
    .ok();
    app.get("/api/v1/me", &ana.token).await.problem(401);
    app.login("acme", &ana.email, PASSWORD).await.problem(401);
    app.anon_post(
        "/api/v1/auth/refresh",
        json!({ "refresh_token": ana.refresh_token }),
    )
    .await
    .problem(401);
}

#[rocket::async_test]
async fn a_role_change_takes_effect_without_a_new_token() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Admin, None).await;
    app.post("/api/v1/teams", &ana.token, json!({ "name": "Care" }))
        .await
        .ok();
    app.put(
        &format!("/api/v1/members/{}/role", ana.id),
        &org.admin.token,
        json!({ "role": "employee" }),
    )
    .await
    .ok();
    app.post("/api/v1/teams", &ana.token, json!({ "name": "Store" }))
        .await
        .problem(403);
}

#[rocket::async_test]
async fn changing_the_password_revokes_other_sessions_only() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let phone = app
        .login_actor("acme", org.admin.id, &org.admin.email)
        .await;
    let new_password = "a much better passphrase";
    let r = app
        .post(
            "/api/v1/me/password",
            &org.admin.token,
            json!({ "current_password": PASSWORD, "new_password": new_password }),
        )
        .await;
    assert_eq!(r.status, Status::NoContent, "{}", r.text);
    app.get("/api/v1/me", &org.admin.token).await.ok();
    app.get("/api/v1/me", &phone.token).await.problem(401);
    app.anon_post(
        "/api/v1/auth/refresh",
        json!({ "refresh_token": phone.refresh_token }),
    )
    .await
    .problem(401);
    app.login("acme", &org.admin.email, PASSWORD)
        .await
        .problem(401);
    app.login("acme", &org.admin.email, new_password).await.ok();
}

#[rocket::async_test]
async fn password_change_refuses_a_wrong_current_or_weak_new_password() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    app.post(
        "/api/v1/me/password",
        &org.admin.token,
        json!({ "current_password": "not my password", "new_password": "a much better passphrase" }),
    )
    .await
    .invalid_field("current_password");
    let r = app
        .post(
            "/api/v1/me/password",
            &org.admin.token,
            json!({ "current_password": PASSWORD, "new_password": "short" }),
        )
        .await;
    r.invalid_field("new_password");
    assert!(r.text.contains("at least 12"), "{}", r.text);
    app.post(
        "/api/v1/me/password",
        &org.admin.token,
        json!({ "current_password": PASSWORD, "new_password": "password12345" }),
    )
    .await
    .invalid_field("new_password");
    app.post(
        "/api/v1/me/password",
        &org.admin.token,
        json!({ "current_password": PASSWORD }),
    )
    .await
    .invalid_field("new_password");
    app.request(
        rocket::http::Method::Post,
        "/api/v1/me/password",
        None,
        Some(json!({ "current_password": PASSWORD, "new_password": "a much better passphrase" })),
    )
    .await
    .problem(401);
}

#[rocket::async_test]
async fn invites_set_a_password_once() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let r = app
        .post(
            "/api/v1/members",
            &org.admin.token,
            json!({ "email": "new@acme.example", "display_name": "New Hire", "role": "employee" }),
        )
        .await;
    let invite = r.ok()["invite_token"].as_str().unwrap().to_string();
    assert_eq!(r.body["status"], "invited");
    // No password yet: logging in fails like any wrong password.
    app.login("acme", "new@acme.example", "")
        .await
        .invalid_field("password");
    app.anon_post(
        "/api/v1/auth/invites/accept",
        json!({ "token": invite, "password": "short" }),
    )
    .await
    .invalid_field("password");
    let r = app
        .anon_post(
            "/api/v1/auth/invites/accept",
            json!({ "token": invite, "password": "welcome aboard friend" }),
        )
        .await;
    let token = r.ok()["access_token"].as_str().unwrap().to_string();
    assert_eq!(app.get("/api/v1/me", &token).await.ok()["status"], "active");
    app.anon_post(
        "/api/v1/auth/invites/accept",
        json!({ "token": invite, "password": "welcome aboard friend" }),
    )
    .await
    .problem(401);
    app.login("acme", "new@acme.example", "welcome aboard friend")
        .await
        .ok();
}
