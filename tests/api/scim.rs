//! SCIM 2.0 (`/scim/v2`): discovery, Users mapped to members (create, get, list with filter and
//! paging, replace, PATCH, delete = deactivate), SCIM errors, who may call, and the
//! `scim2-tester` suite against a real server process.

use std::path::PathBuf;
use std::process::Command;

use diesel_async::RunQueryDsl;
use frontline::auth::Role;
use rocket::http::{ContentType, Header, Method, Status};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::*;
use crate::servers::Server;

const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// An API key with these scopes: (id, key).
async fn api_key(app: &TestApp, org: &Org, scopes: &[&str]) -> (Uuid, String) {
    let r = app
        .post(
            "/api/v1/api-keys",
            &org.admin.token,
            json!({ "name": "idp", "scopes": scopes }),
        )
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    (id_of(&r.body), r.body["key"].as_str().unwrap().to_string())
}

async fn scim(
    app: &TestApp,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> Resp {
    let mut req = app.client.req(method, format!("/scim/v2{path}"));
    if let Some(k) = key {
        req.add_header(Header::new("Authorization", format!("Bearer {k}")));
    }
    if let Some(b) = body {
        req.add_header(ContentType::new("application", "scim+json"));
        req.set_body(b.to_string());
    }
    read(req.dispatch().await).await
}

/// Assert a SCIM error with this status (and `scimType`); returns the body.
#[track_caller]
fn scim_error(r: &Resp, status: u16, scim_type: Option<&str>) {
    assert_eq!(r.status.code, status, "{}", r.text);
    assert_eq!(
        r.content_type.as_deref(),
        Some("application/scim+json"),
        "{}",
        r.text
    );
    assert_eq!(r.body["schemas"], json!([ERROR]), "{}", r.text);
    assert_eq!(r.body["status"], status.to_string());
    assert!(r.body["detail"].is_string());
    if let Some(t) = scim_type {
        assert_eq!(r.body["scimType"], t, "{}", r.text);
    }
}

fn user(name: &str, email: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "name": { "givenName": "Ada", "familyName": "Lovelace" },
        "emails": [{ "value": email, "type": "work", "primary": true }],
        "externalId": format!("ext-{name}"),
        "active": true
    })
}

async fn member_status(app: &TestApp, org: &Org, id: &str) -> Value {
    app.get(&format!("/api/v1/members/{id}"), &org.admin.token)
        .await
        .ok()
        .clone()
}

#[rocket::async_test]
async fn discovery_answers_and_refuses_other_methods() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let (_, key) = api_key(&app, &org, &["scim"]).await;
    let k = Some(key.as_str());
    let r = scim(&app, Method::Get, "/ServiceProviderConfig", k, None).await;
    assert_eq!(r.status, Status::Ok, "{}", r.text);
    assert_eq!(r.content_type.as_deref(), Some("application/scim+json"));
    assert_eq!(r.body["patch"]["supported"], true);
    assert_eq!(r.body["filter"]["maxResults"], 200);
    let r = scim(&app, Method::Get, "/Schemas", k, None).await;
    let names: Vec<&str> = r.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    for n in [
        "User",
        "Group",
        "ResourceType",
        "ServiceProviderConfig",
        "Schema",
    ] {
        assert!(names.contains(&n), "{names:?}");
    }
    let r = scim(
        &app,
        Method::Get,
        "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
        k,
        None,
    )
    .await;
    assert_eq!(r.body["name"], "User", "{}", r.text);
    scim_error(
        &scim(&app, Method::Get, "/Schemas/nope", k, None).await,
        404,
        None,
    );
    let r = scim(&app, Method::Get, "/ResourceTypes/User", k, None).await;
    assert_eq!(r.body["endpoint"], "/Users");
    scim_error(
        &scim(&app, Method::Get, "/ResourceTypes/Nope", k, None).await,
        404,
        None,
    );
    for path in ["/ServiceProviderConfig", "/ResourceTypes", "/Schemas"] {
        for m in [Method::Post, Method::Put, Method::Patch, Method::Delete] {
            scim_error(&scim(&app, m, path, k, Some(json!({}))).await, 405, None);
        }
    }
    scim_error(
        &scim(&app, Method::Get, &format!("/{}", Uuid::new_v4()), k, None).await,
        404,
        None,
    );
    scim_error(
        &scim(&app, Method::Post, "/.search", k, Some(json!({}))).await,
        501,
        None,
    );
    // The separate OpenAPI document.
    let r = read(app.client.get("/scim/v2/openapi.json").dispatch().await).await;
    assert_eq!(r.body["openapi"], "3.1.0");
    assert!(r.body["paths"]["/scim/v2/Users/{id}"]["patch"].is_object());
}

#[rocket::async_test]
async fn only_an_admins_key_with_the_scim_scope_may_call() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let r = scim(&app, Method::Get, "/Users", None, None).await;
    scim_error(&r, 401, None);
    assert_eq!(r.header("WWW-Authenticate"), Some("Bearer"));
    // A member's token is no SCIM key.
    scim_error(
        &scim(&app, Method::Get, "/Users", Some(&org.admin.token), None).await,
        401,
        None,
    );
    scim_error(
        &scim(&app, Method::Get, "/Users", Some("flk_not-a-key"), None).await,
        401,
        None,
    );
    let (_, exports) = api_key(&app, &org, &["exports"]).await;
    scim_error(
        &scim(&app, Method::Get, "/Users", Some(&exports), None).await,
        403,
        None,
    );
    // A SCIM key handed to HR stops: provisioning is an admin's.
    let hr = app.member(&org, "Hanna Hr", Role::Hr, None).await;
    let (key_id, key) = api_key(&app, &org, &["scim"]).await;
    let r = app
        .post(
            &format!("/api/v1/api-keys/{key_id}/reassign"),
            &org.admin.token,
            json!({ "member_id": hr.id }),
        )
        .await;
    r.ok();
    scim_error(
        &scim(&app, Method::Get, "/Users", Some(&key), None).await,
        403,
        None,
    );
    // Every documented SCIM operation refuses anonymous callers, in SCIM's words.
    let spec = read(app.client.get("/scim/v2/openapi.json").dispatch().await)
        .await
        .body;
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op.get("security").is_none() {
                continue;
            }
            let path = path
                .replace("{id}", &Uuid::new_v4().to_string())
                .replace("{endpoint}", "Schemas");
            let method: Method = method.to_uppercase().parse().unwrap();
            let body =
                matches!(method, Method::Post | Method::Put | Method::Patch).then(|| json!({}));
            let r = scim(
                &app,
                method,
                path.trim_start_matches("/scim/v2"),
                None,
                body,
            )
            .await;
            scim_error(&r, 401, None);
            checked += 1;
        }
    }
    assert!(checked >= 15, "{checked}");
}

#[rocket::async_test]
async fn users_are_members_created_replaced_patched_and_deleted() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let (key_id, key) = api_key(&app, &org, &["scim"]).await;
    let k = Some(key.as_str());
    let r = scim(
        &app,
        Method::Post,
        "/Users",
        k,
        Some(user("ada", "Ada@Example.com")),
    )
    .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        r.header("Location"),
        Some(format!("/scim/v2/Users/{id}").as_str())
    );
    assert_eq!(r.body["userName"], "ada");
    assert_eq!(r.body["externalId"], "ext-ada");
    assert_eq!(
        r.body["emails"][0]["value"], "Ada@Example.com",
        "kept as sent"
    );
    assert_eq!(r.body["meta"]["resourceType"], "User");
    let m = member_status(&app, &org, &id).await;
    assert_eq!(m["email"], "ada@example.com");
    assert_eq!(m["display_name"], "Ada Lovelace");
    assert_eq!(m["role"], "employee");
    assert_eq!(m["status"], "invited");

    // Get, with attributes.
    let r = scim(
        &app,
        Method::Get,
        &format!("/Users/{id}?attributes=userName"),
        k,
        None,
    )
    .await;
    assert_eq!(r.body["userName"], "ada");
    assert!(r.body.get("emails").is_none() && r.body["id"] == id.as_str());
    let r = scim(
        &app,
        Method::Get,
        &format!("/Users/{id}?excludedAttributes=emails"),
        k,
        None,
    )
    .await;
    assert!(r.body.get("emails").is_none() && r.body["userName"] == "ada");

    // Uniqueness: the userName (any case) and the email.
    let r = scim(
        &app,
        Method::Post,
        "/Users",
        k,
        Some(user("ADA", "other@example.com")),
    )
    .await;
    scim_error(&r, 409, Some("uniqueness"));
    let r = scim(
        &app,
        Method::Post,
        "/Users",
        k,
        Some(user("ada2", "ada@example.com")),
    )
    .await;
    scim_error(&r, 409, Some("uniqueness"));
    // Bad input.
    let r = scim(
        &app,
        Method::Post,
        "/Users",
        k,
        Some(json!({ "userName": "x" })),
    )
    .await;
    scim_error(&r, 400, Some("invalidValue"));
    let r = scim(
        &app,
        Method::Post,
        "/Users",
        k,
        Some(json!({ "emails": [{"value": "x@example.com"}] })),
    )
    .await;
    scim_error(&r, 400, Some("invalidValue"));
    let r = scim(
        &app,
        Method::Post,
        "/Users",
        k,
        Some(json!({ "userName": "y", "emails": [{"value": "not an email"}] })),
    )
    .await;
    scim_error(&r, 400, Some("invalidValue"));
    let r = scim(
        &app,
        Method::Post,
        "/Users",
        k,
        Some(json!({ "userName": "y", "emails": [{"value": "y@example.com"}], "active": "maybe" })),
    )
    .await;
    scim_error(&r, 400, Some("invalidValue"));
    let mut req = app.client.post("/scim/v2/Users");
    req.add_header(Header::new("Authorization", format!("Bearer {key}")));
    req.add_header(ContentType::JSON);
    req.set_body("{not json");
    scim_error(
        &read(req.dispatch().await).await,
        400,
        Some("invalidSyntax"),
    );

    // Replace: the email and name follow; a password is never kept.
    let mut put = user("ada", "ada.l@example.com");
    put["displayName"] = json!("Countess Ada");
    put["password"] = json!("hunter2hunter2");
    let r = scim(&app, Method::Put, &format!("/Users/{id}"), k, Some(put)).await;
    assert_eq!(r.status, Status::Ok, "{}", r.text);
    assert!(r.body.get("password").is_none());
    let m = member_status(&app, &org, &id).await;
    assert_eq!(m["email"], "ada.l@example.com");
    assert_eq!(m["display_name"], "Countess Ada");

    // PATCH as Entra sends it: `Replace`, string booleans.
    let ops = json!({ "schemas": [PATCH], "Operations": [{ "op": "Replace", "path": "active", "value": "False" }] });
    let r = scim(&app, Method::Patch, &format!("/Users/{id}"), k, Some(ops)).await;
    assert_eq!(r.status, Status::Ok, "{}", r.text);
    assert_eq!(r.body["active"], false);
    assert_eq!(
        member_status(&app, &org, &id).await["status"],
        "deactivated"
    );
    let ops = json!({ "schemas": [PATCH], "Operations": [{ "op": "replace", "value": { "active": true, "displayName": "Ada" } }] });
    let r = scim(&app, Method::Patch, &format!("/Users/{id}"), k, Some(ops)).await;
    assert_eq!(r.body["active"], true, "{}", r.text);
    assert_eq!(member_status(&app, &org, &id).await["display_name"], "Ada");
    let ops = json!({ "schemas": [PATCH], "Operations": [{ "op": "replace", "path": "emails[type eq \"work\"].value", "value": "ada@lovelace.example" }] });
    let r = scim(&app, Method::Patch, &format!("/Users/{id}"), k, Some(ops)).await;
    assert_eq!(
        r.body["emails"][0]["value"], "ada@lovelace.example",
        "{}",
        r.text
    );
    assert_eq!(
        member_status(&app, &org, &id).await["email"],
        "ada@lovelace.example"
    );
    for (ops, t) in [
        (
            json!([{ "op": "remove", "path": "userName" }]),
            "mutability",
        ),
        (json!([{ "op": "remove" }]), "noTarget"),
        (
            json!([{ "op": "replace", "path": "emails[type eq \"home\"].value", "value": "x@y.z" }]),
            "noTarget",
        ),
        (
            json!([{ "op": "add", "path": "roles", "value": "admin" }]),
            "invalidPath",
        ),
        (
            json!([{ "op": "move", "path": "userName" }]),
            "invalidSyntax",
        ),
    ] {
        let r = scim(
            &app,
            Method::Patch,
            &format!("/Users/{id}"),
            k,
            Some(json!({ "schemas": [PATCH], "Operations": ops })),
        )
        .await;
        scim_error(&r, 400, Some(t));
    }

    // Delete = deactivate: the member stays (deactivated), the User is gone.
    let r = scim(&app, Method::Delete, &format!("/Users/{id}"), k, None).await;
    assert_eq!(r.status, Status::NoContent, "{}", r.text);
    scim_error(
        &scim(&app, Method::Get, &format!("/Users/{id}"), k, None).await,
        404,
        None,
    );
    scim_error(
        &scim(&app, Method::Delete, &format!("/Users/{id}"), k, None).await,
        404,
        None,
    );
    scim_error(
        &scim(
            &app,
            Method::Put,
            &format!("/Users/{id}"),
            k,
            Some(user("ada", "ada@lovelace.example")),
        )
        .await,
        404,
        None,
    );
    assert_eq!(
        member_status(&app, &org, &id).await["status"],
        "deactivated"
    );
    // A re-hire: the same member, active again.
    let r = scim(
        &app,
        Method::Post,
        "/Users",
        k,
        Some(user("ada", "ada@lovelace.example")),
    )
    .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    assert_eq!(r.body["id"], id.as_str());
    assert_eq!(member_status(&app, &org, &id).await["status"], "invited");

    // Every write is audited under the key.
    let mut conn = app.db.conn().await;
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        action: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
        actor_api_key_id: Option<Uuid>,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT action, actor_api_key_id FROM audit_log WHERE action LIKE 'scim_%' OR action LIKE 'member_%activated' ORDER BY id",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let actions: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
    for a in [
        "scim_user_created",
        "scim_user_replaced",
        "scim_user_patched",
        "scim_user_deleted",
        "member_deactivated",
        "member_reactivated",
    ] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    assert!(rows.iter().all(|r| r.actor_api_key_id == Some(key_id)));
}

#[rocket::async_test]
async fn lists_filter_and_page_and_show_members_never_provisioned() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let other = app.seed_org("other").await;
    let (_, key) = api_key(&app, &org, &["scim"]).await;
    let k = Some(key.as_str());
    let stranger = app
        .member(&other, "Sam Stranger", Role::Employee, None)
        .await;
    for i in 0..5 {
        let r = scim(
            &app,
            Method::Post,
            "/Users",
            k,
            Some(user(&format!("u{i}"), &format!("u{i}@example.com"))),
        )
        .await;
        assert_eq!(r.status, Status::Created, "{}", r.text);
    }
    let r = scim(&app, Method::Get, "/Users", k, None).await;
    assert_eq!(r.body["totalResults"], 6, "{}", r.text);
    assert_eq!(
        r.body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
    );
    // The admin was never provisioned: a User made from the member, found by its email.
    let r = scim(
        &app,
        Method::Get,
        "/Users?filter=userName%20eq%20%22ADMIN%40acme.example%22",
        k,
        None,
    )
    .await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.text);
    assert_eq!(r.body["Resources"][0]["id"], org.admin.id.to_string());
    assert_eq!(
        r.body["Resources"][0]["emails"][0]["value"],
        "admin@acme.example"
    );
    // Paging.
    let r = scim(&app, Method::Get, "/Users?startIndex=2&count=2", k, None).await;
    assert_eq!(r.body["totalResults"], 6);
    assert_eq!(r.body["startIndex"], 2);
    assert_eq!(r.body["itemsPerPage"], 2);
    assert_eq!(r.body["Resources"][0]["userName"], "u0");
    let r = scim(
        &app,
        Method::Get,
        "/Users?count=5000&startIndex=-3",
        k,
        None,
    )
    .await;
    assert_eq!(r.body["itemsPerPage"], 6);
    assert_eq!(r.body["startIndex"], 1);
    scim_error(
        &scim(&app, Method::Get, "/Users?count=many", k, None).await,
        400,
        Some("invalidValue"),
    );
    // Filters.
    let q = |f: &str| format!("/Users?filter={}", urlencode(f));
    for (f, n) in [
        (r#"userName sw "u""#, 5),
        (r#"userName ew "3""#, 1),
        (r#"userName co "u" and not (userName eq "u1")"#, 4),
        (r#"externalId eq "ext-u2" or externalId eq "ext-u4""#, 2),
        (r#"emails[type eq "work" and value co "u2@"]"#, 1),
        (r#"emails.value eq "u0@example.com""#, 1),
        ("active eq true", 6),
        ("externalId pr", 5),
        (r#"meta.created gt "2000-01-01T00:00:00Z""#, 6),
        (r#"name.familyName eq "Lovelace""#, 5),
        (r#"userName eq "\" or 1=1 --""#, 0),
    ] {
        let r = scim(&app, Method::Get, &q(f), k, None).await;
        assert_eq!(r.body["totalResults"], n, "{f}: {}", r.text);
    }
    let r = scim(
        &app,
        Method::Get,
        &format!("{}&count=1&startIndex=2", q(r#"userName sw "u""#)),
        k,
        None,
    )
    .await;
    assert_eq!(r.body["totalResults"], 5);
    assert_eq!(r.body["Resources"][0]["userName"], "u1");
    for bad in [
        "password eq \"x\"",
        "userName eq",
        "userName eq \"a\" oops",
        "(active eq true",
    ] {
        scim_error(
            &scim(&app, Method::Get, &q(bad), k, None).await,
            400,
            Some("invalidFilter"),
        );
    }
    // .search takes the same in a body.
    let r = scim(
        &app,
        Method::Post,
        "/Users/.search",
        k,
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": "userName eq \"u4\"", "attributes": ["userName"], "count": 10
        })),
    )
    .await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.text);
    assert!(r.body["Resources"][0].get("emails").is_none());
    // Another organisation's member is nobody here.
    for m in [Method::Get, Method::Delete] {
        scim_error(
            &scim(&app, m, &format!("/Users/{}", stranger.id), k, None).await,
            404,
            None,
        );
    }
    scim_error(
        &scim(
            &app,
            Method::Put,
            &format!("/Users/{}", stranger.id),
            k,
            Some(user("s", "s@example.com")),
        )
        .await,
        404,
        None,
    );
    scim_error(
        &scim(&app, Method::Get, "/Users/not-an-id", k, None).await,
        404,
        None,
    );
    // Never the last admin.
    let r = scim(
        &app,
        Method::Delete,
        &format!("/Users/{}", org.admin.id),
        k,
        None,
    )
    .await;
    scim_error(&r, 409, None);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The project venv's python with `scim2_tester` (scripts/test installs it and names the
/// python in `FRONTLINE_TEST_PYTHON`; then it must work). Run on its own, the test says
/// SKIPPED when there is none.
fn tester_python() -> Option<PathBuf> {
    let named = std::env::var_os("FRONTLINE_TEST_PYTHON").map(PathBuf::from);
    let python = named.clone().unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".local/venv/bin/python")
    });
    let usable = Command::new(&python)
        .args(["-c", "import scim2_tester, httpx2"])
        .output()
        .is_ok_and(|o| o.status.success());
    match (usable, named) {
        (true, _) => Some(python),
        (false, Some(named)) => panic!("{named:?} cannot import scim2_tester"),
        (false, None) => {
            eprintln!(
                "WARNING: SKIPPED: no python with scim2-tester ({python:?}); scripts/test installs it"
            );
            None
        }
    }
}

#[rocket::async_test]
async fn the_scim2_tester_suite_passes_against_a_real_server() {
    let Some(python) = tester_python() else {
        return;
    };
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let (_, key) = api_key(&app, &org, &["scim"]).await;
    let port = crate::servers::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _server = Server::start_on(
        &app.db.url,
        port,
        &[("FRONTLINE_PUBLIC_BASE_URL", base.as_str())],
    )
    .await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/receivers/scim_check.py");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg(format!("{base}/scim/v2"))
            .arg(key)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "scim2-tester failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[rocket::async_test]
async fn groups_are_teams_whose_members_move_between_them() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let other = app.seed_org("other").await;
    let foreign_team = app.team(&other, "Elsewhere").await;
    let (key_id, key) = api_key(&app, &org, &["scim"]).await;
    let k = Some(key.as_str());
    let mut ids = Vec::new();
    for i in 0..3 {
        let r = scim(
            &app,
            Method::Post,
            "/Users",
            k,
            Some(user(&format!("g{i}"), &format!("g{i}@example.com"))),
        )
        .await;
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    let group = |name: &str, members: &[&String]| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": name,
            "externalId": format!("ext-{name}"),
            "members": members.iter().map(|m| json!({ "value": m })).collect::<Vec<_>>(),
        })
    };
    let r = scim(
        &app,
        Method::Post,
        "/Groups",
        k,
        Some(group("Support", &[&ids[0], &ids[1]])),
    )
    .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    let support = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["members"].as_array().unwrap().len(), 2);
    assert_eq!(
        r.body["members"][0]["$ref"],
        format!("/scim/v2/Users/{}", ids[0])
    );
    assert_eq!(
        member_status(&app, &org, &ids[0]).await["team_id"],
        support.as_str()
    );
    let r = scim(
        &app,
        Method::Post,
        "/Groups",
        k,
        Some(group("support", &[])),
    )
    .await;
    scim_error(&r, 409, Some("uniqueness"));
    let r = scim(
        &app,
        Method::Post,
        "/Groups",
        k,
        Some(group("Sales", &[&Uuid::new_v4().to_string()])),
    )
    .await;
    scim_error(&r, 400, Some("invalidValue"));
    scim_error(
        &scim(
            &app,
            Method::Post,
            "/Groups",
            k,
            Some(json!({ "members": [] })),
        )
        .await,
        400,
        Some("invalidValue"),
    );
    let r = scim(&app, Method::Post, "/Groups", k, Some(group("Sales", &[]))).await;
    let sales = r.body["id"].as_str().unwrap().to_string();
    assert!(r.body.get("members").is_none(), "{}", r.text);

    // Joining Sales leaves Support: one team at a time.
    let ops = json!({ "schemas": [PATCH], "Operations": [{ "op": "Add", "path": "members", "value": [{ "value": ids[0] }] }] });
    let r = scim(
        &app,
        Method::Patch,
        &format!("/Groups/{sales}"),
        k,
        Some(ops),
    )
    .await;
    assert_eq!(r.body["members"][0]["value"], ids[0].as_str(), "{}", r.text);
    let r = scim(&app, Method::Get, &format!("/Groups/{support}"), k, None).await;
    assert_eq!(
        r.body["members"],
        json!([{ "value": ids[1], "$ref": format!("/scim/v2/Users/{}", ids[1]) }])
    );
    // Remove by value filter, as Entra does.
    let ops = json!({ "schemas": [PATCH], "Operations": [{ "op": "Remove", "path": format!("members[value eq \"{}\"]", ids[1]) }] });
    let r = scim(
        &app,
        Method::Patch,
        &format!("/Groups/{support}"),
        k,
        Some(ops),
    )
    .await;
    assert!(r.body.get("members").is_none(), "{}", r.text);
    assert_eq!(
        member_status(&app, &org, &ids[1]).await["team_id"],
        Value::Null
    );
    // PUT: exactly the listed members, and a new name.
    let r = scim(
        &app,
        Method::Put,
        &format!("/Groups/{support}"),
        k,
        Some(group("Customer Care", &[&ids[1], &ids[2]])),
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{}", r.text);
    assert_eq!(r.body["displayName"], "Customer Care");
    assert_eq!(r.body["members"].as_array().unwrap().len(), 2);
    let team = app
        .get(&format!("/api/v1/teams/{support}"), &org.admin.token)
        .await;
    assert_eq!(team.body["name"], "Customer Care");
    // Filters.
    let r = scim(
        &app,
        Method::Get,
        &format!(
            "/Groups?filter={}",
            urlencode(r#"displayName eq "customer care""#)
        ),
        k,
        None,
    )
    .await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.text);
    let r = scim(
        &app,
        Method::Get,
        &format!(
            "/Groups?filter={}",
            urlencode(&format!("members[value eq \"{}\"]", ids[0]))
        ),
        k,
        None,
    )
    .await;
    assert_eq!(r.body["Resources"][0]["id"], sales.as_str(), "{}", r.text);
    scim_error(
        &scim(&app, Method::Get, "/Groups?filter=userName%20pr", k, None).await,
        400,
        Some("invalidFilter"),
    );
    let r = scim(&app, Method::Get, "/Groups?count=1", k, None).await;
    assert_eq!(r.body["totalResults"], 2);
    assert_eq!(r.body["itemsPerPage"], 1);
    // Another organisation's team is nobody's here.
    scim_error(
        &scim(
            &app,
            Method::Get,
            &format!("/Groups/{foreign_team}"),
            k,
            None,
        )
        .await,
        404,
        None,
    );
    scim_error(
        &scim(
            &app,
            Method::Delete,
            &format!("/Groups/{foreign_team}"),
            k,
            None,
        )
        .await,
        404,
        None,
    );
    // Delete: everyone leaves, the team is archived, the Group is gone.
    let r = scim(&app, Method::Delete, &format!("/Groups/{support}"), k, None).await;
    assert_eq!(r.status, Status::NoContent, "{}", r.text);
    scim_error(
        &scim(&app, Method::Get, &format!("/Groups/{support}"), k, None).await,
        404,
        None,
    );
    let team = app
        .get(&format!("/api/v1/teams/{support}"), &org.admin.token)
        .await;
    assert!(team.body["archived_at"].is_string(), "{}", team.text);
    assert_eq!(
        member_status(&app, &org, &ids[2]).await["team_id"],
        Value::Null
    );
    let history = member_status(&app, &org, &ids[2]).await;
    assert!(
        history["team_history"][0]["ended_at"].is_string(),
        "{history}"
    );
    // Audited under the key.
    let mut conn = app.db.conn().await;
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
        actor_api_key_id: Option<Uuid>,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT actor_api_key_id FROM audit_log WHERE action LIKE 'scim_group_%'",
    )
    .load(&mut conn)
    .await
    .unwrap();
    assert!(rows.len() >= 5);
    assert!(rows.iter().all(|r| r.actor_api_key_id == Some(key_id)));
}

/// Without its database a SCIM request answers 503 with `Retry-After`, as a SCIM error.
#[rocket::async_test]
async fn a_lost_database_answers_503_as_a_scim_error() {
    let server = Server::start_with(
        "postgres://postgres@127.0.0.1:1/nowhere",
        &[("FRONTLINE_DB_POOL_WAIT_MS", "300")],
    )
    .await;
    let r = server
        .send("GET", "/scim/v2/Users", Some("flk_some-key"), None, &[])
        .await
        .unwrap();
    assert_eq!(r.status, 503, "{:?}", r.body);
    assert!(r.headers.contains_key("retry-after"), "{:?}", r.headers);
    assert_eq!(r.body["schemas"], json!([ERROR]));
    assert_eq!(r.body["status"], "503");
}
