//! Health, the OpenAPI document, the reference page, catchers and request ids.

use std::collections::BTreeSet;

use rocket::http::{ContentType, Header, Method, Status};
use rocket::local::asynchronous::Client;
use serde_json::{Value, json};

use crate::common::*;

#[rocket::async_test]
async fn health_probes_answer() {
    let app = TestApp::new().await;
    let r = read(app.client.get("/health/live").dispatch().await).await;
    assert_eq!(r.status, Status::Ok);
    assert_eq!(r.body["status"], "ok");
    let r = read(app.client.get("/health/ready").dispatch().await).await;
    assert_eq!(r.status, Status::Ok);
}

#[rocket::async_test]
async fn readiness_fails_with_a_problem_when_the_database_is_gone() {
    let db = TestDb::new().await;
    let mut figment = figment_for(&db);
    figment = frontline::config::with_override(
        figment,
        "database_url",
        "postgres://postgres@127.0.0.1:1/nowhere",
    );
    let client = rocket::local::asynchronous::Client::tracked(frontline::rocket(figment).unwrap())
        .await
        .unwrap();
    let r = read(client.get("/health/ready").dispatch().await).await;
    r.problem(503);
    let r = read(client.get("/health/live").dispatch().await).await;
    assert_eq!(r.status, Status::Ok);
}

fn openapi_path(rocket_path: &str) -> String {
    let path = rocket_path.split('?').next().unwrap_or(rocket_path);
    path.split('/')
        .map(|seg| {
            if seg.starts_with('<') && seg.ends_with('>') {
                format!("{{{}}}", seg.trim_matches(|c| c == '<' || c == '>'))
            } else {
                seg.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[rocket::async_test]
async fn the_openapi_document_lists_exactly_the_mounted_routes() {
    let app = TestApp::new().await;
    let r = read(app.client.get("/api/v1/openapi.json").dispatch().await).await;
    assert_eq!(r.status, Status::Ok);
    let doc = r.body;
    assert_eq!(doc["openapi"], "3.1.0");
    // SCIM has a document of its own; together they name every route.
    let scim = read(app.client.get("/scim/v2/openapi.json").dispatch().await).await;
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .chain(scim.body["paths"].as_object().unwrap().iter())
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "post", "put", "patch", "delete"].contains(&k.as_str()))
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let mounted: BTreeSet<(String, String)> = app
        .client
        .rocket()
        .routes()
        .map(|route| {
            (
                route.method.to_string(),
                openapi_path(&route.uri.to_string()),
            )
        })
        .collect();
    let undocumented: Vec<_> = mounted.difference(&documented).collect();
    let unmounted: Vec<_> = documented.difference(&mounted).collect();
    assert!(
        undocumented.is_empty(),
        "mounted but not documented: {undocumented:?}"
    );
    assert!(
        unmounted.is_empty(),
        "documented but not mounted: {unmounted:?}"
    );
}

#[test]
fn operation_ids_are_unique_and_every_response_is_described() {
    let doc: Value = serde_json::to_value(frontline::openapi::document()).unwrap();
    let mut seen = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_default().to_string();
            assert!(
                seen.insert(id.clone()),
                "operationId {id} of {method} {path} is not unique"
            );
            for (code, response) in op["responses"].as_object().unwrap() {
                assert!(
                    response["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{method} {path} {code} has no description"
                );
            }
        }
    }
}

#[rocket::async_test]
async fn the_cli_document_is_the_served_document() {
    let app = TestApp::new().await;
    let r = read(app.client.get("/api/v1/openapi.json").dispatch().await).await;
    let cli: Value =
        serde_json::from_str(&frontline::openapi::document().to_pretty_json().unwrap()).unwrap();
    assert_eq!(r.body, cli);
}

#[rocket::async_test]
async fn every_protected_operation_refuses_anonymous_callers() {
    let app = TestApp::new().await;
    let doc = frontline::openapi::document();
    let doc: Value = serde_json::to_value(&doc).unwrap();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op.get("security").is_none() {
                continue;
            }
            // Any value will do for path parameters: authentication comes first.
            let path: String = path
                .split('/')
                .map(|seg| {
                    if seg.starts_with('{') {
                        "00000000-0000-4000-8000-000000000000"
                    } else {
                        seg
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let method: Method = method.to_uppercase().parse().unwrap();
            let body = matches!(method, Method::Post | Method::Put | Method::Patch)
                .then(|| serde_json::json!({}));
            let r = app.request(method, &path, None, body).await;
            assert_eq!(
                r.status,
                Status::Unauthorized,
                "{method} {path}: {}",
                r.text
            );
            r.problem(401);
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} protected operations found");
}

#[rocket::async_test]
async fn the_reference_page_is_html_and_explains_problem_types() {
    let app = TestApp::new().await;
    let r = read(app.client.get("/docs").dispatch().await).await;
    assert_eq!(r.status, Status::Ok);
    assert_eq!(r.content_type.as_deref(), Some("text/html"));
    assert!(r.text.contains("/api/v1/auth/login"));
    assert!(r.text.contains("id=\"problem-validation\""));
}

#[rocket::async_test]
async fn unknown_routes_are_problem_documents() {
    let app = TestApp::new().await;
    let r = read(app.client.get("/api/v1/nothing-here").dispatch().await).await;
    let body = r.problem(404);
    assert_eq!(body["instance"], "/api/v1/nothing-here");
    assert!(body["request_id"].is_string());
}

#[rocket::async_test]
async fn every_response_carries_a_request_id_and_honours_a_sane_incoming_one() {
    let app = TestApp::new().await;
    let r = read(app.client.get("/health/live").dispatch().await).await;
    let generated = r.header("X-Request-Id").unwrap().to_string();
    assert_eq!(generated.len(), 36);
    let r = read(
        app.client
            .get("/health/live")
            .header(Header::new("X-Request-Id", "abc-123"))
            .dispatch()
            .await,
    )
    .await;
    assert_eq!(r.header("X-Request-Id"), Some("abc-123"));
    let r = read(
        app.client
            .get("/nope")
            .header(Header::new("X-Request-Id", "bad id with spaces\u{7f}"))
            .dispatch()
            .await,
    )
    .await;
    let id = r.header("X-Request-Id").unwrap();
    assert_ne!(id, "bad id with spaces\u{7f}");
    assert_eq!(r.body["request_id"], id);
}

#[rocket::async_test]
async fn the_service_refuses_to_start_without_a_usable_jwt_key() {
    let db = TestDb::new().await;
    let figment = frontline::config::with_override(figment_for(&db), "jwt_secret", "too-short");
    let Err(err) = frontline::rocket(figment) else {
        panic!("a short key is refused")
    };
    assert!(err.to_string().contains("32 bytes"), "{err}");
}

/// PostgreSQL's own lock timeouts (55P03) and deadlocks (40P01) become the errors that say so,
/// from the words the server really sends: challenge completion steps back on exactly these.
#[rocket::async_test]
async fn real_lock_timeouts_and_deadlocks_are_classified() {
    use diesel_async::RunQueryDsl;
    use frontline::error::AppError;

    async fn lock(conn: &mut diesel_async::AsyncPgConnection, key: i64) -> Result<(), AppError> {
        let locked = diesel::sql_query(format!("SELECT pg_advisory_lock({key})"))
            .execute(conn)
            .await;
        if locked.is_err() {
            // A session lock outlives the failed statement: let the other side through.
            diesel::sql_query("SELECT pg_advisory_unlock_all()")
                .execute(conn)
                .await
                .unwrap();
        }
        locked.map(|_| ()).map_err(AppError::from)
    }

    let db = TestDb::new().await;
    let (mut a, mut b) = (db.conn().await, db.conn().await);
    lock(&mut a, 1).await.unwrap();
    diesel::sql_query("SET lock_timeout = '50ms'")
        .execute(&mut b)
        .await
        .unwrap();
    let timeout = lock(&mut b, 1).await.unwrap_err();
    assert!(matches!(timeout, AppError::LockTimeout(_)), "{timeout:?}");
    assert_eq!(timeout.status(), Status::ServiceUnavailable);
    assert_eq!(timeout.retry_after(), Some(1));

    diesel::sql_query("SET lock_timeout = 0")
        .execute(&mut b)
        .await
        .unwrap();
    lock(&mut b, 2).await.unwrap();
    let (from_a, from_b) = futures::join!(lock(&mut a, 2), lock(&mut b, 1));
    let lost = match (from_a, from_b) {
        (Err(e), Ok(())) | (Ok(()), Err(e)) => e,
        other => panic!("exactly one side breaks the deadlock: {other:?}"),
    };
    assert!(matches!(lost, AppError::Contention(_)), "{lost:?}");
    assert!(
        lost.chain().to_string().contains("deadlock"),
        "{}",
        lost.chain()
    );
}

/// What the binary reads when started away from Rocket.toml: code defaults and the environment.
fn figment_without_file_for(database_url: &str) -> rocket::figment::Figment {
    use frontline::config::with_override;
    let f = frontline::config::figment_without_file();
    let f = with_override(f, "database_url", database_url);
    let f = with_override(f, "run_migrations", false);
    let f = with_override(f, "log_level", "off");
    with_override(f, "jwt_secret", "test-secret-test-secret-test-secret-0123")
}

#[rocket::async_test]
async fn without_rocket_toml_the_code_defaults_refuse_a_100_kb_json_body() {
    let db = TestDb::new().await;
    let client = Client::tracked(frontline::rocket(figment_without_file_for(&db.url)).unwrap())
        .await
        .unwrap();
    let login = |password_len: usize| {
        json!({"organisation": "acme", "email": "a@b.io", "password": "x".repeat(password_len)})
            .to_string()
    };
    let r = client
        .post("/api/v1/auth/login")
        .header(ContentType::JSON)
        .body(login(100 * 1000))
        .dispatch()
        .await;
    read(r).await.problem(413);
    // The limit is 64 KiB, not something smaller: a body just under it is read and judged.
    let r = client
        .post("/api/v1/auth/login")
        .header(ContentType::JSON)
        .body(login(60 * 1024))
        .dispatch()
        .await;
    let r = read(r).await;
    assert_ne!(r.status, Status::PayloadTooLarge, "{}", r.text);
}

#[test]
fn a_pool_that_cannot_be_built_says_why_without_the_password() {
    // Building the service opens no connection, so no database is needed here.
    let figment =
        figment_without_file_for("postgres://postgres:pool-test-password@127.0.0.1:1/nowhere");
    let figment = frontline::config::with_override(figment, "db_pool_size", 0);
    let Err(err) = frontline::rocket(figment) else {
        panic!("an empty pool is refused")
    };
    let message = err.to_string();
    assert!(message.contains("db_pool_size"), "{message}");
    assert!(message.contains("at least one connection"), "{message}");
    assert!(!message.contains("pool-test-password"), "{message}");
}
