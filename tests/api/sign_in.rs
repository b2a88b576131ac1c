//! Signing in without a corporate mailbox (issue #17): an employee number, set by admins,
//! unique in the organisation regardless of case, signs in instead of an email.

use frontline::auth::Role;
use serde_json::{Value, json};

use crate::common::*;

async fn set(app: &TestApp, org: &Org, who: uuid::Uuid, number: Value) -> Resp {
    app.patch(
        &format!("/api/v1/members/{who}"),
        &org.admin.token,
        json!({ "employee_number": number }),
    )
    .await
}

async fn number_login(app: &TestApp, slug: &str, number: &str, password: &str) -> Resp {
    app.anon_post(
        "/api/v1/auth/login",
        json!({ "organisation": slug, "employee_number": number, "password": password }),
    )
    .await
}

#[rocket::async_test]
async fn members_sign_in_with_their_employee_number_whatever_its_case() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let created = app
        .post(
            "/api/v1/members",
            &org.admin.token,
            json!({ "email": "pia@acme.example", "display_name": "Pia", "role": "employee",
                    "password": PASSWORD, "employee_number": " E-1042 " }),
        )
        .await;
    assert_eq!(created.status.code, 201, "{}", created.text);
    assert_eq!(created.body["employee_number"], "E-1042");
    let pia = id_of(&created.body);

    for number in ["E-1042", "e-1042"] {
        let r = number_login(&app, "acme", number, PASSWORD).await;
        assert_eq!(r.status.code, 200, "{number}: {}", r.text);
        let me = app
            .get(
                "/api/v1/me",
                r.body["access_token"].as_str().unwrap_or_default(),
            )
            .await;
        assert_eq!(me.body["id"], json!(pia));
    }
    // A wrong password, an unknown number, another organisation: one answer.
    let other = app.seed_org("globex").await;
    let wrong = number_login(&app, "acme", "E-1042", "not the password at all").await;
    let unknown = number_login(&app, "acme", "E-9999", PASSWORD).await;
    let elsewhere = number_login(&app, &other.slug, "E-1042", PASSWORD).await;
    wrong.problem(401);
    same_problem(&wrong, &unknown);
    same_problem(&wrong, &elsewhere);
    // The email still works.
    let by_email = app.login("acme", "pia@acme.example", PASSWORD).await;
    assert_eq!(by_email.status.code, 200);
}

#[rocket::async_test]
async fn a_login_names_its_member_one_way_and_bad_numbers_are_refused() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let both = app
        .anon_post(
            "/api/v1/auth/login",
            json!({ "organisation": "acme", "email": "a@acme.example",
                    "employee_number": "E-1", "password": PASSWORD }),
        )
        .await;
    both.invalid_field("email");
    let neither = app
        .anon_post(
            "/api/v1/auth/login",
            json!({ "organisation": "acme", "password": PASSWORD }),
        )
        .await;
    neither.invalid_field("email");
    for bad in ["", "   ", "E 1042", "E-1042;--", &"9".repeat(65)] {
        number_login(&app, "acme", bad, PASSWORD)
            .await
            .invalid_field("employee_number");
        app.post(
            "/api/v1/members",
            &org.admin.token,
            json!({ "email": "x@acme.example", "display_name": "X", "role": "employee",
                    "employee_number": bad }),
        )
        .await
        .invalid_field("employee_number");
    }
}

#[rocket::async_test]
async fn admins_set_change_and_clear_numbers_which_stay_unique_and_private() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let other = app.seed_org("globex").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let lead = app.member(&org, "Lea", Role::TeamLead, None).await;
    let r = set(&app, &org, ana.id, json!("E-7")).await;
    assert_eq!(r.status.code, 200, "{}", r.text);
    assert_eq!(r.body["employee_number"], "E-7");

    // Unique in the organisation regardless of case; another organisation may reuse it.
    let taken = set(&app, &org, ben.id, json!("e-7")).await;
    let problem = taken.problem(409);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("employee number"),
        "{problem}"
    );
    let created = app
        .post(
            "/api/v1/members",
            &org.admin.token,
            json!({ "email": "cy@acme.example", "display_name": "Cy", "role": "employee",
                    "employee_number": "E-7" }),
        )
        .await;
    created.problem(409);
    let theirs = app
        .post(
            "/api/v1/members",
            &other.admin.token,
            json!({ "email": "cy@globex.example", "display_name": "Cy", "role": "employee",
                    "employee_number": "E-7" }),
        )
        .await;
    assert_eq!(theirs.status.code, 201, "{}", theirs.text);

    // Only admins set it; another organisation's member is not found.
    app.patch(
        &format!("/api/v1/members/{}", ben.id),
        &lead.token,
        json!({ "employee_number": "E-8" }),
    )
    .await
    .problem(403);
    app.patch(
        &format!("/api/v1/members/{}", id_of(&theirs.body)),
        &org.admin.token,
        json!({ "employee_number": "E-8" }),
    )
    .await
    .problem(404);

    // Shown like the email: to admins, HR and the member; not to a colleague.
    let seen_by_ben = app
        .get(&format!("/api/v1/members/{}", ana.id), &ben.token)
        .await;
    assert!(
        seen_by_ben.body.get("employee_number").is_none(),
        "{}",
        seen_by_ben.text
    );
    let mine = app
        .get(&format!("/api/v1/members/{}", ana.id), &ana.token)
        .await;
    assert_eq!(mine.body["employee_number"], "E-7");

    // Moved to Ben once Ana's is cleared; Ana then cannot sign in with it, Ben can.
    let cleared = set(&app, &org, ana.id, Value::Null).await;
    assert_eq!(cleared.body["employee_number"], Value::Null);
    assert_eq!(set(&app, &org, ben.id, json!("E-7")).await.status.code, 200);
    let r = number_login(&app, "acme", "E-7", PASSWORD).await;
    assert_eq!(r.status.code, 200);
    let me = app
        .get(
            "/api/v1/me",
            r.body["access_token"].as_str().unwrap_or_default(),
        )
        .await;
    assert_eq!(me.body["id"], json!(ben.id));

    // Erasing a member forgets their number: it may be given again, and signs nobody in.
    let erased = app
        .post_empty(
            &format!("/api/v1/members/{}/erase", ben.id),
            &org.admin.token,
        )
        .await;
    assert!(erased.status.code < 300, "{}", erased.text);
    number_login(&app, "acme", "E-7", PASSWORD)
        .await
        .problem(401);
    assert_eq!(set(&app, &org, ana.id, json!("E-7")).await.status.code, 200);
}

async fn pin_login(app: &TestApp, number: &str, pin: &str) -> Resp {
    app.anon_post(
        "/api/v1/auth/pin-login",
        json!({ "organisation": "acme", "employee_number": number, "pin": pin }),
    )
    .await
}

async fn allow_pins(app: &TestApp, org: &Org, on: bool) {
    let r = app
        .patch(
            "/api/v1/organisation",
            &org.admin.token,
            json!({ "pin_sign_in": on }),
        )
        .await;
    assert_eq!(r.status.code, 200, "{}", r.text);
    assert_eq!(r.body["pin_sign_in"], on);
}

#[rocket::async_test]
async fn staff_sign_in_with_a_pin_where_their_organisation_allows_it() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let hana = app.member(&org, "Hana", Role::Hr, None).await;
    for (who, number) in [(ana.id, "E-1"), (hana.id, "E-2"), (org.admin.id, "E-3")] {
        assert_eq!(set(&app, &org, who, json!(number)).await.status.code, 200);
    }
    let pin = |pin: &str| json!({ "pin": pin, "password": PASSWORD });

    // Not allowed yet: setting one is a conflict, and signing in with one fails.
    app.put("/api/v1/me/pin", &ana.token, pin("2580"))
        .await
        .problem(409);
    allow_pins(&app, &org, true).await;
    // Admins and HR never hold one.
    for who in [&hana, &org.admin] {
        app.put("/api/v1/me/pin", &who.token, pin("2580"))
            .await
            .problem(403);
    }
    // Guessable PINs and a wrong password are refused, naming the field.
    for bad in ["1234", "0000", "12", "abcd"] {
        app.put("/api/v1/me/pin", &ana.token, pin(bad))
            .await
            .invalid_field("pin");
    }
    app.put(
        "/api/v1/me/pin",
        &ana.token,
        json!({ "pin": "2580", "password": "not my password at all" }),
    )
    .await
    .invalid_field("password");
    app.request(
        rocket::http::Method::Put,
        "/api/v1/me/pin",
        None,
        Some(pin("2580")),
    )
    .await
    .problem(401);

    let r = app.put("/api/v1/me/pin", &ana.token, pin("2580")).await;
    assert_eq!(r.status.code, 204, "{}", r.text);
    let ok = pin_login(&app, "e-1", "2580").await;
    assert_eq!(ok.status.code, 200, "{}", ok.text);
    let me = app
        .get(
            "/api/v1/me",
            ok.body["access_token"].as_str().unwrap_or_default(),
        )
        .await;
    assert_eq!(me.body["id"], json!(ana.id));

    // Wrong PIN, unknown number, an admin's number: one answer; bad shapes name the field.
    let wrong = pin_login(&app, "E-1", "2581").await;
    wrong.problem(401);
    same_problem(&wrong, &pin_login(&app, "E-404", "2580").await);
    same_problem(&wrong, &pin_login(&app, "E-3", "2580").await);
    pin_login(&app, "E-1", "25a0").await.invalid_field("pin");

    // Switched off, the PIN no longer signs in (the password does).
    allow_pins(&app, &org, false).await;
    same_problem(&wrong, &pin_login(&app, "E-1", "2580").await);
    allow_pins(&app, &org, true).await;
    assert_eq!(pin_login(&app, "E-1", "2580").await.status.code, 200);

    // Removed, it signs nobody in; the audit log has both.
    let r = app
        .request(
            rocket::http::Method::Delete,
            "/api/v1/me/pin",
            Some(&ana.token),
            None,
        )
        .await;
    assert_eq!(r.status.code, 204);
    same_problem(&wrong, &pin_login(&app, "E-1", "2580").await);
    let audit = app.get("/api/v1/audit", &org.admin.token).await;
    assert!(audit.text.contains("pin_set") && audit.text.contains("pin_removed"));
    assert!(!audit.text.contains("2580"));
}

#[rocket::async_test]
async fn five_wrong_pins_stop_a_number_s_pin_sign_ins_even_when_raced() {
    let app = TestApp::with(|f| {
        // The address budget is not what this test is about.
        frontline::config::with_override(f, "login_max_failures_per_address", 1000)
    })
    .await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    assert_eq!(set(&app, &org, ana.id, json!("E-1")).await.status.code, 200);
    allow_pins(&app, &org, true).await;
    let r = app
        .put(
            "/api/v1/me/pin",
            &ana.token,
            json!({ "pin": "2580", "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status.code, 204);

    // Twelve wrong guesses at once: at most five are checked, the rest wait.
    let guesses = (0..12).map(|i| pin_login(&app, "E-1", if i % 2 == 0 { "1111" } else { "2222" }));
    let answers = futures::future::join_all(guesses).await;
    let checked = answers.iter().filter(|r| r.status.code == 401).count();
    let throttled = answers.iter().filter(|r| r.status.code == 429).count();
    assert_eq!(
        (checked, throttled),
        (5, 7),
        "{:?}",
        answers.iter().map(|r| r.status.code).collect::<Vec<_>>()
    );
    assert!(answers.iter().any(|r| r.header("retry-after").is_some()));
    // Even the right PIN waits now; the password still signs in.
    pin_login(&app, "E-1", "2580").await.problem(429);
    assert_eq!(
        number_login(&app, "acme", "E-1", PASSWORD)
            .await
            .status
            .code,
        200
    );
}
