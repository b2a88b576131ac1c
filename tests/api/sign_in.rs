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
