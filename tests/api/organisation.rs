//! `GET /api/v1/organisation` and `PATCH /api/v1/organisation`.

use frontline::auth::Role;
use rocket::http::Method;
use serde_json::json;

use crate::common::*;

const ORG: &str = "/api/v1/organisation";

#[rocket::async_test]
async fn any_member_including_an_employee_reads_their_organisation() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let employee = app
        .member(&org, "Emma Employee", Role::Employee, None)
        .await;

    for token in [&org.admin.token, &employee.token] {
        let r = app.get(ORG, token).await;
        let body = r.ok();
        assert_eq!(body["id"], org.id.to_string());
        assert_eq!(body["slug"], "acme");
        assert_eq!(body["name"], "Org acme");
        assert_eq!(body["time_zone"], "Europe/Oslo");
        assert_eq!(body["mandate"], false);
        assert!(body["created_at"].is_string() && body["updated_at"].is_string());
    }
}

#[rocket::async_test]
async fn reading_the_organisation_needs_a_valid_token() {
    let app = TestApp::new().await;
    app.seed_org("acme").await;

    let r = app.request(Method::Get, ORG, None, None).await;
    r.problem(401);
    assert_eq!(r.header("WWW-Authenticate"), Some("Bearer"));
    app.get(ORG, "not-a-jwt").await.problem(401);
}

#[rocket::async_test]
async fn admin_changes_name_slug_time_zone_and_mandate() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;

    let r = app
        .patch(
            ORG,
            &org.admin.token,
            json!({ "name": "Acme Corp", "slug": "acme-corp", "time_zone": "America/New_York", "mandate": true }),
        )
        .await;
    let body = r.ok();
    assert_eq!(body["name"], "Acme Corp");
    assert_eq!(body["slug"], "acme-corp");
    assert_eq!(body["time_zone"], "America/New_York");
    assert_eq!(body["mandate"], true);

    let shown = app.get(ORG, &org.admin.token).await;
    assert_eq!(shown.ok(), body, "GET shows what PATCH stored");
    let me = app.get("/api/v1/me", &org.admin.token).await;
    assert_eq!(me.ok()["organisation"]["slug"], "acme-corp");
}

#[rocket::async_test]
async fn after_a_slug_change_members_log_in_with_the_new_slug_only() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;

    app.patch(ORG, &org.admin.token, json!({ "slug": "acme-corp" }))
        .await
        .ok();

    app.login("acme-corp", &org.admin.email, PASSWORD)
        .await
        .ok();
    app.login("acme", &org.admin.email, PASSWORD)
        .await
        .problem(401);
}

#[rocket::async_test]
async fn fields_left_out_of_a_patch_keep_their_values() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;

    let r = app
        .patch(ORG, &org.admin.token, json!({ "mandate": true }))
        .await;
    let body = r.ok();
    assert_eq!(body["mandate"], true);
    assert_eq!(body["name"], "Org acme");
    assert_eq!(body["slug"], "acme");
    assert_eq!(body["time_zone"], "Europe/Oslo");

    let r = app.patch(ORG, &org.admin.token, json!({})).await;
    assert_eq!(r.ok()["mandate"], true);
}

#[rocket::async_test]
async fn an_admin_may_set_the_slug_their_organisation_already_has() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;

    let r = app
        .patch(ORG, &org.admin.token, json!({ "slug": "acme" }))
        .await;
    assert_eq!(r.ok()["slug"], "acme");
}

#[rocket::async_test]
async fn hr_team_leads_and_employees_may_not_change_settings() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let hr = app.member(&org, "Hanna Hr", Role::Hr, None).await;
    let lead = app.member(&org, "Lara Lead", Role::TeamLead, None).await;
    let employee = app
        .member(&org, "Emma Employee", Role::Employee, None)
        .await;

    for actor in [&hr, &lead, &employee] {
        app.patch(ORG, &actor.token, json!({ "name": "Hijacked" }))
            .await
            .problem(403);
    }
    assert_eq!(
        app.get(ORG, &org.admin.token).await.ok()["name"],
        "Org acme"
    );
}

#[rocket::async_test]
async fn changing_settings_without_a_token_is_unauthorised() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;

    app.request(
        Method::Patch,
        ORG,
        None,
        Some(json!({ "name": "Hijacked" })),
    )
    .await
    .problem(401);
    assert_eq!(
        app.get(ORG, &org.admin.token).await.ok()["name"],
        "Org acme"
    );
}

#[rocket::async_test]
async fn an_unknown_time_zone_is_refused() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;

    for tz in ["Mars/Olympus", "", "GMT+25"] {
        app.patch(ORG, &org.admin.token, json!({ "time_zone": tz }))
            .await
            .invalid_field("time_zone");
    }
    assert_eq!(
        app.get(ORG, &org.admin.token).await.ok()["time_zone"],
        "Europe/Oslo"
    );
}

#[rocket::async_test]
async fn a_malformed_slug_is_refused() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;

    let too_long = "a".repeat(64);
    for slug in [
        "Acme",
        "-acme",
        "acme-",
        "ac me",
        "acme_corp",
        "",
        too_long.as_str(),
    ] {
        app.patch(ORG, &org.admin.token, json!({ "slug": slug }))
            .await
            .invalid_field("slug");
    }
    assert_eq!(app.get(ORG, &org.admin.token).await.ok()["slug"], "acme");
}

#[rocket::async_test]
async fn an_empty_or_too_long_name_is_refused() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;

    for name in ["   ".to_string(), "n".repeat(201)] {
        app.patch(ORG, &org.admin.token, json!({ "name": name }))
            .await
            .invalid_field("name");
    }
}

#[rocket::async_test]
async fn a_slug_another_organisation_uses_is_a_conflict() {
    let app = TestApp::new().await;
    let acme = app.seed_org("acme").await;
    app.seed_org("globex").await;

    app.patch(ORG, &acme.admin.token, json!({ "slug": "globex" }))
        .await
        .problem(409);
    assert_eq!(app.get(ORG, &acme.admin.token).await.ok()["slug"], "acme");
}

#[rocket::async_test]
async fn unknown_fields_and_wrong_types_are_refused_by_name() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;

    app.patch(ORG, &org.admin.token, json!({ "plan": "enterprise" }))
        .await
        .invalid_field("plan");
    app.patch(ORG, &org.admin.token, json!({ "mandate": "yes" }))
        .await
        .invalid_field("mandate");
    app.patch(ORG, &org.admin.token, json!({ "name": 42 }))
        .await
        .invalid_field("name");
}

#[rocket::async_test]
async fn an_admin_changes_only_their_own_organisation() {
    let app = TestApp::new().await;
    let acme = app.seed_org("acme").await;
    let globex = app.seed_org("globex").await;
    let before = app.get(ORG, &globex.admin.token).await.ok().clone();

    app.patch(
        ORG,
        &acme.admin.token,
        json!({ "name": "Acme Corp", "slug": "acme-corp", "time_zone": "UTC", "mandate": true }),
    )
    .await
    .ok();

    let after = app.get(ORG, &globex.admin.token).await;
    assert_eq!(after.ok(), &before, "the other organisation is untouched");
    assert_eq!(after.body["id"], globex.id.to_string());
}
