//! Members: create (with a password or an invite), list, show, move, roles, deactivation,
//! profile changes, invites, `GET /api/v1/me`, and tenant isolation down to the database.

use std::collections::HashSet;

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::RunQueryDsl;
use frontline::auth::Role;
use rocket::http::{Method, Status};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::*;

const MEMBERS: &str = "/api/v1/members";
const ACCEPT: &str = "/api/v1/auth/invites/accept";
const NEW_PASSWORD: &str = "purple elephant juggling teacups";

fn member_path(id: impl std::fmt::Display) -> String {
    format!("{MEMBERS}/{id}")
}

fn display_names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("a page has items")
        .iter()
        .map(|m| m["display_name"].as_str().unwrap().to_string())
        .collect()
}

async fn list_names(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let r = app.get(&format!("{MEMBERS}?{query}"), token).await;
    display_names(r.ok())
}

/// Every member of a listing, by display name, and how many pages it took.
async fn member_pages(app: &TestApp, token: &str, query: &str) -> (Vec<String>, usize) {
    let (items, pages) = all_pages(app, &format!("{MEMBERS}?{query}"), "items", token).await;
    let names = items
        .iter()
        .map(|m| m["display_name"].as_str().unwrap().to_string())
        .collect();
    (names, pages)
}

async fn create_member(app: &TestApp, org: &Org, body: Value) -> Resp {
    app.post(MEMBERS, &org.admin.token, body).await
}

/// Creates a member without a password; returns their id and invite token.
async fn invite_member(app: &TestApp, org: &Org, name: &str, email: &str) -> (Uuid, String) {
    let r = create_member(
        app,
        org,
        json!({ "email": email, "display_name": name, "role": "employee" }),
    )
    .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    (
        id_of(&r.body),
        r.body["invite_token"].as_str().unwrap().to_string(),
    )
}

async fn accept(app: &TestApp, token: &str, password: &str) -> Resp {
    app.anon_post(ACCEPT, json!({ "token": token, "password": password }))
        .await
}

async fn move_to(app: &TestApp, org: &Org, member: Uuid, team: impl std::fmt::Display) -> Resp {
    app.post(
        &format!("{}/move", member_path(member)),
        &org.admin.token,
        json!({ "team_id": team.to_string() }),
    )
    .await
}

async fn deactivate(app: &TestApp, org: &Org, member: Uuid) -> Resp {
    app.post_empty(
        &format!("{}/deactivate", member_path(member)),
        &org.admin.token,
    )
    .await
}

async fn reactivate(app: &TestApp, org: &Org, member: Uuid) -> Resp {
    app.post_empty(
        &format!("{}/reactivate", member_path(member)),
        &org.admin.token,
    )
    .await
}

async fn set_role(app: &TestApp, token: &str, member: Uuid, role: &str) -> Resp {
    app.put(
        &format!("{}/role", member_path(member)),
        token,
        json!({ "role": role }),
    )
    .await
}

async fn archive_team(app: &TestApp, org: &Org, team: Uuid) {
    app.post_empty(&format!("/api/v1/teams/{team}/archive"), &org.admin.token)
        .await
        .ok();
}

// --- create ---------------------------------------------------------------------------------

#[rocket::async_test]
async fn admin_creates_an_active_member_with_a_password_who_can_log_in() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let team = app.team(&org, "Support").await;

    let r = create_member(
        &app,
        &org,
        json!({
            "email": " Nina.New@Acme.Example ",
            "display_name": "Nina New",
            "role": "team_lead",
            "team_id": team,
            "password": NEW_PASSWORD,
        }),
    )
    .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    let body = &r.body;
    assert_eq!(
        body["email"], "nina.new@acme.example",
        "emails are stored lower-case"
    );
    assert_eq!(body["display_name"], "Nina New");
    assert_eq!(body["role"], "team_lead");
    assert_eq!(body["status"], "active");
    assert_eq!(body["team_id"], team.to_string());
    assert_eq!(body["team_name"], "Support");
    assert!(body.get("invite_token").is_none());

    let login = app
        .login("acme", "NINA.NEW@acme.example", NEW_PASSWORD)
        .await;
    let token = login.ok()["access_token"].as_str().unwrap().to_string();
    let me = app.get("/api/v1/me", &token).await;
    assert_eq!(me.ok()["id"], body["id"]);
}

#[rocket::async_test]
async fn a_member_created_without_a_password_is_invited_and_accepting_logs_them_in() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;

    let r = create_member(
        &app,
        &org,
        json!({ "email": "ivy@acme.example", "display_name": "Ivy Invited", "role": "employee" }),
    )
    .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    assert_eq!(r.body["status"], "invited");
    assert!(r.body["team_id"].is_null());
    assert!(r.body["invite_expires_at"].is_string());
    let invite = r.body["invite_token"].as_str().expect("an invite token");
    let id = id_of(&r.body);

    app.login("acme", "ivy@acme.example", NEW_PASSWORD)
        .await
        .problem(401);

    let accepted = accept(&app, invite, NEW_PASSWORD).await;
    let tokens = accepted.ok();
    assert_eq!(accepted.status, Status::Ok);
    let access = tokens["access_token"].as_str().expect("an access token");
    assert!(tokens["refresh_token"].is_string());

    let me = app.get("/api/v1/me", access).await;
    assert_eq!(me.ok()["id"], id.to_string());
    assert_eq!(me.body["status"], "active");
    app.login("acme", "ivy@acme.example", NEW_PASSWORD)
        .await
        .ok();

    accept(&app, invite, "another fine passphrase")
        .await
        .problem(401);
}

#[rocket::async_test]
async fn a_weak_password_at_invite_acceptance_is_refused_and_the_invite_stays_usable() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let (_, invite) = invite_member(&app, &org, "Ivy Invited", "ivy@acme.example").await;

    accept(&app, &invite, "short")
        .await
        .invalid_field("password");
    accept(&app, &invite, NEW_PASSWORD).await.ok();
}

#[rocket::async_test]
async fn an_email_already_used_in_the_organisation_is_a_conflict_whatever_its_case() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let emma = app
        .member(&org, "Emma Employee", Role::Employee, None)
        .await;

    for email in [emma.email.clone(), emma.email.to_uppercase()] {
        create_member(
            &app,
            &org,
            json!({ "email": email, "display_name": "Emma Again", "role": "employee" }),
        )
        .await
        .problem(409);
    }
}

#[rocket::async_test]
async fn the_same_email_may_be_used_in_two_organisations() {
    let app = TestApp::new().await;
    let acme = app.seed_org("acme").await;
    let globex = app.seed_org("globex").await;

    for org in [&acme, &globex] {
        let r = create_member(
            &app,
            org,
            json!({ "email": "pat@example.com", "display_name": "Pat", "role": "employee" }),
        )
        .await;
        assert_eq!(r.status, Status::Created, "{}", r.text);
    }
}

#[rocket::async_test]
async fn an_invalid_email_is_refused() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;

    for email in [
        "",
        "nina",
        "nina@localhost",
        "ni na@acme.example",
        "@acme.example",
        "a@b@c.io",
    ] {
        create_member(
            &app,
            &org,
            json!({ "email": email, "display_name": "Nina", "role": "employee" }),
        )
        .await
        .invalid_field("email");
    }
}

#[rocket::async_test]
async fn a_weak_password_is_refused() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;

    for password in [
        "short",
        "aaaaaaaaaaaaaaaa",
        "password1234",
        "abcdefghijklmnop",
        "nina.new.nina.new",
    ] {
        create_member(
            &app,
            &org,
            json!({
                "email": "nina.new@acme.example",
                "display_name": "Nina",
                "role": "employee",
                "password": password,
            }),
        )
        .await
        .invalid_field("password");
    }
}

#[rocket::async_test]
async fn a_bad_role_or_malformed_body_is_refused_by_field() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let valid = json!({ "email": "nina@acme.example", "display_name": "Nina", "role": "employee" });
    let with = |key: &str, value: Value| {
        let mut body = valid.clone();
        body[key] = value;
        body
    };

    for role in [json!("boss"), json!("Admin"), json!("")] {
        create_member(&app, &org, with("role", role))
            .await
            .invalid_field("role");
    }
    create_member(&app, &org, with("display_name", json!("  ")))
        .await
        .invalid_field("display_name");
    create_member(&app, &org, with("team_id", json!("not-a-uuid")))
        .await
        .invalid_field("team_id");
    create_member(&app, &org, with("organisation_id", json!(Uuid::new_v4())))
        .await
        .invalid_field("organisation_id");
    for missing in ["email", "display_name", "role"] {
        let mut body = valid.clone();
        body.as_object_mut().unwrap().remove(missing);
        create_member(&app, &org, body).await.invalid_field(missing);
    }
}

#[rocket::async_test]
async fn a_role_of_the_wrong_json_type_is_a_422_naming_role() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let emma = app
        .member(&org, "Emma Employee", Role::Employee, None)
        .await;

    let mut statuses = Vec::new();
    for role in [json!(3), json!(null), json!(true)] {
        let created = create_member(
            &app,
            &org,
            json!({ "email": "nina@acme.example", "display_name": "Nina", "role": role }),
        )
        .await;
        let changed = app
            .put(
                &format!("{}/role", member_path(emma.id)),
                &org.admin.token,
                json!({ "role": role }),
            )
            .await;
        statuses.push((role, created.status.code, changed.status.code));
    }
    assert!(
        statuses.iter().all(|(_, c, p)| *c == 422 && *p == 422),
        "(role, POST /members, PUT /role) statuses: {statuses:?}"
    );
}

#[rocket::async_test]
async fn a_team_of_another_organisation_or_no_team_at_all_is_an_invalid_team_id() {
    let app = TestApp::new().await;
    let acme = app.seed_org("acme").await;
    let globex = app.seed_org("globex").await;
    let globex_team = app.team(&globex, "Globex Support").await;

    for team in [globex_team, Uuid::new_v4()] {
        create_member(
            &app,
            &acme,
            json!({ "email": "nina@acme.example", "display_name": "Nina", "role": "employee", "team_id": team }),
        )
        .await
        .invalid_field("team_id");
    }
    let list = list_names(&app, &acme.admin.token, "").await;
    assert_eq!(list, ["Admin"], "nobody was created");
}

#[rocket::async_test]
async fn a_member_cannot_be_created_in_an_archived_team() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let team = app.team(&org, "Old").await;
    archive_team(&app, &org, team).await;

    create_member(
        &app,
        &org,
        json!({ "email": "nina@acme.example", "display_name": "Nina", "role": "employee", "team_id": team }),
    )
    .await
    .problem(409);
}

#[rocket::async_test]
async fn only_admins_create_members() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let hr = app.member(&org, "Hanna Hr", Role::Hr, None).await;
    let lead = app.member(&org, "Lara Lead", Role::TeamLead, None).await;
    let employee = app
        .member(&org, "Emma Employee", Role::Employee, None)
        .await;
    let body = json!({ "email": "nina@acme.example", "display_name": "Nina", "role": "admin" });

    for actor in [&hr, &lead, &employee] {
        app.post(MEMBERS, &actor.token, body.clone())
            .await
            .problem(403);
    }
    app.request(Method::Post, MEMBERS, None, Some(body))
        .await
        .problem(401);
}

// --- list -----------------------------------------------------------------------------------

/// acme: Admin, Lara Lead and Emma Employee in Support, Sam Sales in Sales, Hanna Hr without a
/// team, Ivy Invited (invited) in Sales and Gary Gone (deactivated) in Support.
struct Roster {
    org: Org,
    support: Uuid,
    sales: Uuid,
    hr: Actor,
    emma: Actor,
    lara: Actor,
}

async fn roster(app: &TestApp) -> Roster {
    let org = app.seed_org("acme").await;
    let support = app.team(&org, "Support").await;
    let sales = app.team(&org, "Sales").await;
    let lara = app
        .member(&org, "Lara Lead", Role::TeamLead, Some(support))
        .await;
    let emma = app
        .member(&org, "Emma Employee", Role::Employee, Some(support))
        .await;
    app.member(&org, "Sam Sales", Role::Employee, Some(sales))
        .await;
    let hr = app.member(&org, "Hanna Hr", Role::Hr, None).await;
    let gary = app
        .member(&org, "Gary Gone", Role::Employee, Some(support))
        .await;
    deactivate(app, &org, gary.id).await.ok();
    let r = create_member(
        app,
        &org,
        json!({ "email": "ivy@acme.example", "display_name": "Ivy Invited", "role": "employee", "team_id": sales }),
    )
    .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    Roster {
        org,
        support,
        sales,
        hr,
        emma,
        lara,
    }
}

#[rocket::async_test]
async fn any_member_lists_the_active_and_invited_members_by_name() {
    let app = TestApp::new().await;
    let r = roster(&app).await;

    let names = list_names(&app, &r.emma.token, "").await;
    assert_eq!(
        names,
        [
            "Admin",
            "Emma Employee",
            "Hanna Hr",
            "Ivy Invited",
            "Lara Lead",
            "Sam Sales"
        ]
    );
    app.request(Method::Get, MEMBERS, None, None)
        .await
        .problem(401);
}

#[rocket::async_test]
async fn admins_and_hr_see_every_email_and_others_only_their_own() {
    let app = TestApp::new().await;
    let r = roster(&app).await;

    for staff in [&r.org.admin.token, &r.hr.token] {
        let page = app.get(&format!("{MEMBERS}?status=all"), staff).await;
        for m in page.ok()["items"].as_array().unwrap() {
            assert!(m["email"].is_string(), "staff see {m}");
        }
    }

    for viewer in [&r.emma, &r.lara] {
        let page = app
            .get(&format!("{MEMBERS}?status=all"), &viewer.token)
            .await;
        for m in page.ok()["items"].as_array().unwrap() {
            if m["id"] == viewer.id.to_string() {
                assert_eq!(
                    m["email"],
                    viewer.email.as_str(),
                    "one's own email is shown"
                );
            } else {
                assert!(m.get("email").is_none(), "no email of others: {m}");
            }
        }
    }
}

#[rocket::async_test]
async fn an_employee_cannot_find_members_by_searching_their_email() {
    let app = TestApp::new().await;
    let r = roster(&app).await;

    assert_eq!(
        list_names(&app, &r.org.admin.token, "q=hanna.hr@").await,
        ["Hanna Hr"],
        "staff search emails too"
    );
    assert!(
        list_names(&app, &r.emma.token, "q=hanna.hr@")
            .await
            .is_empty(),
        "an employee's search does not reveal emails"
    );
}

#[rocket::async_test]
async fn members_are_filtered_by_team_role_status_and_name() {
    let app = TestApp::new().await;
    let r = roster(&app).await;
    let token = &r.org.admin.token;

    assert_eq!(
        list_names(&app, token, &format!("team_id={}", r.support)).await,
        ["Emma Employee", "Lara Lead"]
    );
    assert_eq!(
        list_names(&app, token, &format!("team_id={}&status=all", r.support)).await,
        ["Emma Employee", "Gary Gone", "Lara Lead"]
    );
    assert_eq!(
        list_names(&app, token, &format!("team_id={}", r.sales)).await,
        ["Ivy Invited", "Sam Sales"]
    );
    assert_eq!(
        list_names(&app, token, "role=employee").await,
        ["Emma Employee", "Ivy Invited", "Sam Sales"]
    );
    assert_eq!(list_names(&app, token, "role=hr").await, ["Hanna Hr"]);
    assert_eq!(
        list_names(
            &app,
            token,
            &format!("role=team_lead&team_id={}", r.support)
        )
        .await,
        ["Lara Lead"]
    );
    assert_eq!(
        list_names(&app, token, "status=active").await,
        list_names(&app, token, "").await,
        "active is the default"
    );
    assert_eq!(
        list_names(&app, token, "status=deactivated").await,
        ["Gary Gone"]
    );
    assert_eq!(list_names(&app, token, "status=all").await.len(), 7);
    assert_eq!(list_names(&app, token, "q=SAM").await, ["Sam Sales"]);
    assert_eq!(list_names(&app, token, "q=a%20e").await, ["Emma Employee"]);
    assert!(
        list_names(&app, token, &format!("team_id={}", Uuid::new_v4()))
            .await
            .is_empty()
    );

    let page = app.get(&format!("{MEMBERS}?status=all"), token).await;
    for m in page.ok()["items"].as_array().unwrap() {
        let expected = match m["display_name"].as_str().unwrap() {
            "Ivy Invited" => "invited",
            "Gary Gone" => "deactivated",
            _ => "active",
        };
        assert_eq!(m["status"], expected, "{m}");
    }
}

#[rocket::async_test]
async fn member_pages_of_two_follow_next_cursor_without_duplicates_or_gaps() {
    let app = TestApp::new().await;
    let r = roster(&app).await;

    let first = app
        .get(&format!("{MEMBERS}?status=all&limit=2"), &r.org.admin.token)
        .await;
    assert_eq!(display_names(first.ok()), ["Admin", "Emma Employee"]);

    let (seen, pages) = member_pages(&app, &r.org.admin.token, "status=all&limit=2").await;
    assert_eq!(pages, 4);
    assert_eq!(
        seen,
        [
            "Admin",
            "Emma Employee",
            "Gary Gone",
            "Hanna Hr",
            "Ivy Invited",
            "Lara Lead",
            "Sam Sales"
        ]
    );
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len());
}

#[rocket::async_test]
async fn members_with_the_same_name_page_without_loss() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let mut ids = HashSet::new();
    for i in 0..5 {
        let r = create_member(
            &app,
            &org,
            json!({ "email": format!("alex{i}@acme.example"), "display_name": if i % 2 == 0 { "Alex" } else { "ALEX" }, "role": "employee" }),
        )
        .await;
        ids.insert(r.body["id"].as_str().unwrap().to_string());
    }

    let mut seen = HashSet::new();
    let (items, _) = all_pages(
        &app,
        &format!("{MEMBERS}?q=alex&limit=2"),
        "items",
        &org.admin.token,
    )
    .await;
    for m in items {
        assert!(
            seen.insert(m["id"].as_str().unwrap().to_string()),
            "twice: {m}"
        );
    }
    assert_eq!(seen, ids);
}

#[rocket::async_test]
async fn member_pages_do_not_skip_names_after_one_starting_with_a_dotted_capital_i() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    app.member(&org, "İlker", Role::Employee, None).await;
    app.member(&org, "Ivan", Role::Employee, None).await;

    let (seen, _) = member_pages(&app, &org.admin.token, "limit=1").await;
    assert_eq!(seen, ["Admin", "İlker", "Ivan"]);
}

#[rocket::async_test]
async fn bad_list_parameters_are_refused_by_name() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let token = &org.admin.token;
    let long_q = format!("q={}", "x".repeat(101));

    for (query, field) in [
        ("role=boss", "role"),
        ("status=gone", "status"),
        ("status=invited", "status"),
        ("team_id=not-a-uuid", "team_id"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=many", "limit"),
        ("cursor=garbage", "cursor"),
        (long_q.as_str(), "q"),
    ] {
        app.get(&format!("{MEMBERS}?{query}"), token)
            .await
            .invalid_field(field);
    }
}

// --- show and team history ------------------------------------------------------------------

#[rocket::async_test]
async fn a_member_shows_their_email_only_to_admins_hr_and_themself() {
    let app = TestApp::new().await;
    let r = roster(&app).await;
    let path = member_path(r.emma.id);

    for token in [&r.org.admin.token, &r.hr.token, &r.emma.token] {
        let shown = app.get(&path, token).await;
        assert_eq!(shown.ok()["email"], r.emma.email.as_str());
    }
    let shown = app.get(&path, &r.lara.token).await;
    let body = shown.ok();
    assert!(body.get("email").is_none(), "{body}");
    assert_eq!(body["display_name"], "Emma Employee");
    assert_eq!(body["team_name"], "Support");
}

#[rocket::async_test]
async fn moving_twice_keeps_three_stints_in_order() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let a = app.team(&org, "A").await;
    let b = app.team(&org, "B").await;
    let c = app.team(&org, "C").await;
    let emma = app
        .member(&org, "Emma Employee", Role::Employee, Some(a))
        .await;

    let moved = move_to(&app, &org, emma.id, b).await;
    assert_eq!(moved.ok()["team_id"], b.to_string());
    assert_eq!(moved.body["team_history"].as_array().unwrap().len(), 2);
    move_to(&app, &org, emma.id, c).await.ok();

    let r = app.get(&member_path(emma.id), &org.admin.token).await;
    let body = r.ok();
    assert_eq!(body["team_id"], c.to_string());
    assert_eq!(body["team_name"], "C");
    let history = body["team_history"].as_array().unwrap();
    let teams: Vec<&str> = history
        .iter()
        .map(|s| s["team_id"].as_str().unwrap())
        .collect();
    assert_eq!(teams, [a.to_string(), b.to_string(), c.to_string()]);
    let team_names: Vec<&str> = history
        .iter()
        .map(|s| s["team_name"].as_str().unwrap())
        .collect();
    assert_eq!(team_names, ["A", "B", "C"]);
    assert!(history[0]["ended_at"].is_string());
    assert!(history[1]["ended_at"].is_string());
    assert!(
        history[2]["ended_at"].is_null(),
        "the current stint is open"
    );
    assert_eq!(
        history[0]["ended_at"], history[1]["started_at"],
        "stints join up"
    );
    assert_eq!(
        history[1]["ended_at"], history[2]["started_at"],
        "stints join up"
    );
    assert_eq!(history[1]["moved_by"], org.admin.id.to_string());
    assert_eq!(history[2]["moved_by"], org.admin.id.to_string());

    let old = app
        .get(&format!("/api/v1/teams/{a}"), &org.admin.token)
        .await;
    assert_eq!(
        old.ok()["members"],
        json!([]),
        "the old team no longer lists them"
    );
    let new = app
        .get(&format!("/api/v1/teams/{c}"), &org.admin.token)
        .await;
    assert_eq!(new.ok()["members"][0]["id"], emma.id.to_string());
}

#[rocket::async_test]
async fn a_member_without_a_team_can_be_moved_into_one() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let team = app.team(&org, "Support").await;
    let emma = app
        .member(&org, "Emma Employee", Role::Employee, None)
        .await;

    let r = move_to(&app, &org, emma.id, team).await;
    let body = r.ok();
    assert_eq!(body["team_id"], team.to_string());
    let history = body["team_history"].as_array().unwrap();
    assert_eq!(history.len(), 1);
    assert!(history[0]["ended_at"].is_null());
}

#[rocket::async_test]
async fn moving_into_the_current_team_is_a_conflict() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let team = app.team(&org, "Support").await;
    let emma = app
        .member(&org, "Emma Employee", Role::Employee, Some(team))
        .await;

    let r = move_to(&app, &org, emma.id, team).await;
    assert_eq!(r.problem(409)["team_id"], team.to_string());
    let shown = app.get(&member_path(emma.id), &org.admin.token).await;
    assert_eq!(shown.ok()["team_history"].as_array().unwrap().len(), 1);
}

#[rocket::async_test]
async fn moving_into_another_organisations_team_or_no_team_is_an_invalid_team_id() {
    let app = TestApp::new().await;
    let acme = app.seed_org("acme").await;
    let globex = app.seed_org("globex").await;
    let support = app.team(&acme, "Support").await;
    let globex_team = app.team(&globex, "Globex Support").await;
    let emma = app
        .member(&acme, "Emma Employee", Role::Employee, Some(support))
        .await;

    move_to(&app, &acme, emma.id, globex_team)
        .await
        .invalid_field("team_id");
    move_to(&app, &acme, emma.id, Uuid::new_v4())
        .await
        .invalid_field("team_id");
    move_to(&app, &acme, emma.id, "not-a-uuid")
        .await
        .invalid_field("team_id");
    app.post(
        &format!("{}/move", member_path(emma.id)),
        &acme.admin.token,
        json!({}),
    )
    .await
    .invalid_field("team_id");

    let shown = app.get(&member_path(emma.id), &acme.admin.token).await;
    assert_eq!(shown.ok()["team_id"], support.to_string());
}

#[rocket::async_test]
async fn moving_into_an_archived_team_is_a_conflict() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let old = app.team(&org, "Old").await;
    let emma = app
        .member(&org, "Emma Employee", Role::Employee, None)
        .await;
    archive_team(&app, &org, old).await;

    move_to(&app, &org, emma.id, old).await.problem(409);
}

// --- roles ----------------------------------------------------------------------------------

#[rocket::async_test]
async fn admin_changes_a_role_and_it_applies_to_existing_tokens() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let emma = app
        .member(&org, "Emma Employee", Role::Employee, None)
        .await;

    let r = set_role(&app, &org.admin.token, emma.id, "team_lead").await;
    assert_eq!(r.ok()["role"], "team_lead");

    set_role(&app, &org.admin.token, emma.id, "admin")
        .await
        .ok();
    let created = app
        .post("/api/v1/teams", &emma.token, json!({ "name": "Emma's" }))
        .await;
    assert_eq!(created.status, Status::Created, "{}", created.text);

    set_role(&app, &org.admin.token, emma.id, "employee")
        .await
        .ok();
    app.post("/api/v1/teams", &emma.token, json!({ "name": "Again" }))
        .await
        .problem(403);
}

#[rocket::async_test]
async fn a_bad_role_is_refused() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let emma = app
        .member(&org, "Emma Employee", Role::Employee, None)
        .await;

    set_role(&app, &org.admin.token, emma.id, "owner")
        .await
        .invalid_field("role");
    app.put(
        &format!("{}/role", member_path(emma.id)),
        &org.admin.token,
        json!({}),
    )
    .await
    .invalid_field("role");
    app.put(
        &format!("{}/role", member_path(emma.id)),
        &org.admin.token,
        json!({ "role": "hr", "team_id": null }),
    )
    .await
    .invalid_field("team_id");
}

#[rocket::async_test]
async fn the_last_active_admin_can_be_neither_demoted_nor_deactivated() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    // A deactivated admin does not count.
    let former = app.member(&org, "Former Admin", Role::Admin, None).await;
    deactivate(&app, &org, former.id).await.ok();

    set_role(&app, &org.admin.token, org.admin.id, "employee")
        .await
        .problem(409);
    deactivate(&app, &org, org.admin.id).await.problem(409);

    let me = app.get("/api/v1/me", &org.admin.token).await;
    assert_eq!(me.ok()["role"], "admin");
    assert_eq!(me.body["status"], "active");
}

#[rocket::async_test]
async fn with_two_admins_one_can_be_demoted_but_not_both() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let second = app.member(&org, "Second Admin", Role::Admin, None).await;

    let r = set_role(&app, &org.admin.token, second.id, "hr").await;
    assert_eq!(r.ok()["role"], "hr");
    set_role(&app, &org.admin.token, org.admin.id, "employee")
        .await
        .problem(409);

    set_role(&app, &org.admin.token, second.id, "admin")
        .await
        .ok();
    let r = set_role(&app, &second.token, org.admin.id, "employee").await;
    assert_eq!(
        r.ok()["role"],
        "employee",
        "an admin may demote the other admin"
    );
    set_role(&app, &second.token, second.id, "employee")
        .await
        .problem(409);
}

#[rocket::async_test]
async fn with_two_admins_one_can_be_deactivated() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let second = app.member(&org, "Second Admin", Role::Admin, None).await;

    deactivate(&app, &org, second.id).await.ok();
    deactivate(&app, &org, org.admin.id).await.problem(409);
}

// --- deactivate and reactivate --------------------------------------------------------------

#[rocket::async_test]
async fn a_deactivated_member_loses_their_token_and_cannot_log_in() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let emma = app
        .member(&org, "Emma Employee", Role::Employee, None)
        .await;
    app.get("/api/v1/me", &emma.token).await.ok();

    let r = deactivate(&app, &org, emma.id).await;
    let body = r.ok();
    assert_eq!(body["status"], "deactivated");
    assert!(body["deactivated_at"].is_string());

    app.get("/api/v1/me", &emma.token).await.problem(401);
    app.get(MEMBERS, &emma.token).await.problem(401);
    app.login("acme", &emma.email, PASSWORD).await.problem(401);
    let again = deactivate(&app, &org, emma.id).await;
    assert_eq!(again.problem(409)["deactivated_at"], body["deactivated_at"]);
}

#[rocket::async_test]
async fn reactivating_restores_login_but_not_old_sessions() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let emma = app
        .member(&org, "Emma Employee", Role::Employee, None)
        .await;
    deactivate(&app, &org, emma.id).await.ok();

    let r = reactivate(&app, &org, emma.id).await;
    let body = r.ok();
    assert_eq!(body["status"], "active");
    assert!(body["deactivated_at"].is_null());

    let login = app.login("acme", &emma.email, PASSWORD).await;
    let token = login.ok()["access_token"].as_str().unwrap().to_string();
    app.get("/api/v1/me", &token).await.ok();
    app.get("/api/v1/me", &emma.token).await.problem(401);
}

#[rocket::async_test]
async fn reactivating_an_active_member_is_a_conflict() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let emma = app
        .member(&org, "Emma Employee", Role::Employee, None)
        .await;

    reactivate(&app, &org, emma.id).await.problem(409);
}

// --- profile --------------------------------------------------------------------------------

#[rocket::async_test]
async fn admin_changes_a_members_name_and_email() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let emma = app
        .member(&org, "Emma Employee", Role::Employee, None)
        .await;

    let r = app
        .patch(
            &member_path(emma.id),
            &org.admin.token,
            json!({ "display_name": "Emma Smith", "email": "Emma.Smith@Acme.Example" }),
        )
        .await;
    let body = r.ok();
    assert_eq!(body["display_name"], "Emma Smith");
    assert_eq!(body["email"], "emma.smith@acme.example");

    let r = app
        .patch(
            &member_path(emma.id),
            &org.admin.token,
            json!({ "display_name": "Emma S." }),
        )
        .await;
    assert_eq!(
        r.ok()["email"],
        "emma.smith@acme.example",
        "absent fields are kept"
    );

    app.login("acme", "emma.smith@acme.example", PASSWORD)
        .await
        .ok();
    app.login("acme", &emma.email, PASSWORD).await.problem(401);
}

#[rocket::async_test]
async fn changing_to_an_email_another_member_has_is_a_conflict() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let emma = app
        .member(&org, "Emma Employee", Role::Employee, None)
        .await;
    let sam = app.member(&org, "Sam Sales", Role::Employee, None).await;

    app.patch(
        &member_path(sam.id),
        &org.admin.token,
        json!({ "email": emma.email.to_uppercase() }),
    )
    .await
    .problem(409);
    let shown = app.get(&member_path(sam.id), &org.admin.token).await;
    assert_eq!(shown.ok()["email"], sam.email.as_str());
}

#[rocket::async_test]
async fn a_bad_profile_change_is_refused_by_field() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let emma = app
        .member(&org, "Emma Employee", Role::Employee, None)
        .await;
    let path = member_path(emma.id);

    app.patch(&path, &org.admin.token, json!({ "email": "not-an-email" }))
        .await
        .invalid_field("email");
    app.patch(&path, &org.admin.token, json!({ "display_name": "" }))
        .await
        .invalid_field("display_name");
    app.patch(&path, &org.admin.token, json!({ "role": "admin" }))
        .await
        .invalid_field("role");
}

// --- invites --------------------------------------------------------------------------------

#[rocket::async_test]
async fn a_new_invite_replaces_the_old_one() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let (id, old) = invite_member(&app, &org, "Ivy Invited", "ivy@acme.example").await;

    let r = app
        .post_empty(&format!("{}/invite", member_path(id)), &org.admin.token)
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    let new = r.body["invite_token"].as_str().expect("a new token");
    assert_ne!(new, old);
    assert!(r.body["invite_expires_at"].is_string());

    accept(&app, &old, NEW_PASSWORD).await.problem(401);
    accept(&app, new, NEW_PASSWORD).await.ok();
}

#[rocket::async_test]
async fn a_deactivated_member_gets_no_invite() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let (id, old) = invite_member(&app, &org, "Ivy Invited", "ivy@acme.example").await;
    deactivate(&app, &org, id).await.ok();

    app.post_empty(&format!("{}/invite", member_path(id)), &org.admin.token)
        .await
        .problem(409);
    accept(&app, &old, NEW_PASSWORD).await.problem(401);
}

// --- me -------------------------------------------------------------------------------------

#[rocket::async_test]
async fn me_returns_the_member_their_team_and_their_organisation() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let team = app.team(&org, "Support").await;
    let emma = app
        .member(&org, "Emma Employee", Role::Employee, Some(team))
        .await;

    let r = app.get("/api/v1/me", &emma.token).await;
    let body = r.ok();
    assert_eq!(body["id"], emma.id.to_string());
    assert_eq!(body["email"], emma.email.as_str());
    assert_eq!(body["display_name"], "Emma Employee");
    assert_eq!(body["role"], "employee");
    assert_eq!(body["status"], "active");
    assert_eq!(body["team"]["id"], team.to_string());
    assert_eq!(body["team"]["name"], "Support");
    assert_eq!(body["organisation"]["id"], org.id.to_string());
    assert_eq!(body["organisation"]["slug"], "acme");

    let admin = app.get("/api/v1/me", &org.admin.token).await;
    assert!(admin.ok()["team"].is_null());
    app.request(Method::Get, "/api/v1/me", None, None)
        .await
        .problem(401);
}

// --- permissions and tenant isolation -------------------------------------------------------

/// Every `/api/v1/members/{id}...` route, with a body that would be valid.
fn member_routes(id: &str, team: Uuid) -> Vec<(Method, String, Option<Value>)> {
    let path = member_path(id);
    vec![
        (Method::Get, path.clone(), None),
        (
            Method::Patch,
            path.clone(),
            Some(json!({ "display_name": "Changed" })),
        ),
        (
            Method::Put,
            format!("{path}/role"),
            Some(json!({ "role": "hr" })),
        ),
        (
            Method::Post,
            format!("{path}/move"),
            Some(json!({ "team_id": team })),
        ),
        (Method::Post, format!("{path}/deactivate"), None),
        (Method::Post, format!("{path}/reactivate"), None),
        (Method::Post, format!("{path}/invite"), None),
    ]
}

#[rocket::async_test]
async fn only_admins_change_members() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let team = app.team(&org, "Support").await;
    let hr = app.member(&org, "Hanna Hr", Role::Hr, None).await;
    let lead = app.member(&org, "Lara Lead", Role::TeamLead, None).await;
    let emma = app
        .member(&org, "Emma Employee", Role::Employee, None)
        .await;

    for (method, path, body) in member_routes(&emma.id.to_string(), team) {
        if method == Method::Get {
            continue;
        }
        for actor in [&hr, &lead, &emma] {
            app.request(method, &path, Some(&actor.token), body.clone())
                .await
                .problem(403);
        }
        app.request(method, &path, None, body.clone())
            .await
            .problem(401);
    }
    let shown = app.get(&member_path(emma.id), &org.admin.token).await;
    let body = shown.ok();
    assert_eq!(body["display_name"], "Emma Employee");
    assert_eq!(body["role"], "employee");
    assert_eq!(body["status"], "active");
    assert!(body["team_id"].is_null());
}

#[rocket::async_test]
async fn another_organisations_member_is_not_found_on_every_route_like_a_missing_one() {
    let app = TestApp::new().await;
    let acme = app.seed_org("acme").await;
    let globex = app.seed_org("globex").await;
    let acme_team = app.team(&acme, "Support").await;
    let globex_team = app.team(&globex, "Globex Support").await;
    let emma = app
        .member(&acme, "Emma Employee", Role::Employee, Some(acme_team))
        .await;
    let missing = Uuid::new_v4().to_string();

    let foreign = member_routes(&emma.id.to_string(), globex_team);
    let absent = member_routes(&missing, globex_team);
    for ((method, path, body), (_, absent_path, _)) in foreign.into_iter().zip(absent) {
        let r = app
            .request(method, &path, Some(&globex.admin.token), body.clone())
            .await;
        r.problem(404);
        let a = app
            .request(method, &absent_path, Some(&globex.admin.token), body)
            .await;
        same_problem(&a, &r);
    }

    let shown = app.get(&member_path(emma.id), &acme.admin.token).await;
    let body = shown.ok();
    assert_eq!(body["display_name"], "Emma Employee");
    assert_eq!(body["role"], "employee");
    assert_eq!(body["status"], "active");
    assert_eq!(body["team_id"], acme_team.to_string());
    assert_eq!(body["team_history"].as_array().unwrap().len(), 1);
    app.get("/api/v1/me", &emma.token).await.ok();
}

#[rocket::async_test]
async fn a_malformed_member_id_is_not_found_on_every_route() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let team = app.team(&org, "Support").await;

    for id in ["not-a-uuid", "42"] {
        for (method, path, body) in member_routes(id, team) {
            app.request(method, &path, Some(&org.admin.token), body)
                .await
                .problem(404);
        }
    }
}

#[rocket::async_test]
async fn the_database_refuses_to_link_a_member_to_another_organisations_team() {
    let app = TestApp::new().await;
    let acme = app.seed_org("acme").await;
    let globex = app.seed_org("globex").await;
    let globex_team = app.team(&globex, "Globex Support").await;
    let emma = app
        .member(&acme, "Emma Employee", Role::Employee, None)
        .await;
    let mut conn = app.db.conn().await;

    let err = diesel::sql_query("UPDATE members SET team_id = $1 WHERE id = $2")
        .bind::<diesel::sql_types::Uuid, _>(globex_team)
        .bind::<diesel::sql_types::Uuid, _>(emma.id)
        .execute(&mut conn)
        .await
        .expect_err("a cross-tenant team link must be refused");
    match err {
        DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
            assert_eq!(info.constraint_name(), Some("members_team_fkey"));
        }
        other => panic!("expected a foreign-key violation, got {other:?}"),
    }

    let err = diesel::sql_query(
        "INSERT INTO team_memberships (organisation_id, member_id, team_id) VALUES ($1, $2, $3)",
    )
    .bind::<diesel::sql_types::Uuid, _>(acme.id)
    .bind::<diesel::sql_types::Uuid, _>(emma.id)
    .bind::<diesel::sql_types::Uuid, _>(globex_team)
    .execute(&mut conn)
    .await
    .expect_err("a cross-tenant team stint must be refused");
    assert!(
        matches!(
            err,
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)
        ),
        "{err:?}"
    );

    let shown = app.get(&member_path(emma.id), &acme.admin.token).await;
    assert!(shown.ok()["team_id"].is_null());
}
