//! The test harness: a real PostgreSQL, one database per test cloned from a migrated template,
//! and the real Rocket application driven through Rocket's local client.
//!
//! `DATABASE_URL` names the server (scripts/test sets it). The template is built once per
//! migration set (its name carries a hash of the migrations) under an advisory lock, so test
//! binaries and test threads running at once share it safely.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use frontline::auth::Role;
use frontline::clock::{Clock, ClockControl};
use frontline::members::{NewMember, queries as members};
use rocket::figment::Figment;
use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::Client;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;
use uuid::Uuid;

pub const PASSWORD: &str = "correct horse battery staple";

fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:54329/frontline".into())
}

fn url_for(db: &str) -> String {
    let (maintenance, _) =
        frontline::db::maintenance_url(&server_url()).expect("DATABASE_URL must name a database");
    // maintenance_url ends the path with /postgres; swap that last segment.
    match maintenance.split_once('?') {
        Some((base, query)) => format!("{}/{db}?{query}", base.trim_end_matches("/postgres")),
        None => format!("{}/{db}", maintenance.trim_end_matches("/postgres")),
    }
}

fn maintenance() -> String {
    frontline::db::maintenance_url(&server_url())
        .expect("DATABASE_URL must name a database")
        .0
}

fn template_name() -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut entries: Vec<_> = walk(&dir);
    entries.sort();
    let mut hasher = Sha256::new();
    for path in entries {
        hasher.update(path.to_string_lossy().as_bytes());
        hasher.update(std::fs::read(&path).unwrap_or_default());
    }
    format!("frontline_tpl_{}", &hex::encode(hasher.finalize())[..16])
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    exists: bool,
}

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

async fn template() -> String {
    TEMPLATE
        .get_or_init(|| async {
            let name = template_name();
            let mut conn = AsyncPgConnection::establish(&maintenance())
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot reach PostgreSQL at {} ({e}); run the tests with scripts/test",
                        server_url()
                    )
                });
            diesel::sql_query("SELECT pg_advisory_lock(727274)")
                .execute(&mut conn)
                .await
                .unwrap();
            let exists: Exists = diesel::sql_query(
                "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists",
            )
            .bind::<diesel::sql_types::Text, _>(&name)
            .get_result(&mut conn)
            .await
            .unwrap();
            if !exists.exists {
                let building = format!("{name}_building");
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                diesel::sql_query(format!("CREATE DATABASE {building}"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                frontline::db::run_migrations(&url_for(&building))
                    .await
                    .expect("migrations apply to a fresh database");
                diesel::sql_query(format!("ALTER DATABASE {building} RENAME TO {name}"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            diesel::sql_query("SELECT pg_advisory_unlock(727274)")
                .execute(&mut conn)
                .await
                .unwrap();
            name
        })
        .await
        .clone()
}

/// A test database, dropped when the test ends.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let template = template().await;
        let name = format!("frontline_test_{}", Uuid::new_v4().simple());
        let mut conn = AsyncPgConnection::establish(&maintenance()).await.unwrap();
        diesel::sql_query(format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .execute(&mut conn)
            .await
            .unwrap();
        TestDb {
            url: url_for(&name),
            name,
        }
    }

    pub async fn conn(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.url).await.unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let url = maintenance();
        // Drop runs inside the test's runtime; do the async clean-up on a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    if let Ok(mut conn) = AsyncPgConnection::establish(&url).await {
                        let _ = diesel::sql_query(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        ))
                        .execute(&mut conn)
                        .await;
                    }
                });
            }
        })
        .join();
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: Status,
    pub body: Value,
    pub text: String,
    pub headers: HashMap<String, String>,
    pub content_type: Option<String>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// Assert an RFC 9457 problem with this status; returns the body.
    #[track_caller]
    pub fn problem(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.code, status,
            "unexpected status; body: {}",
            self.text
        );
        assert_eq!(
            self.content_type.as_deref(),
            Some("application/problem+json"),
            "problem responses are application/problem+json; body: {}",
            self.text
        );
        assert_eq!(self.body["status"], status);
        assert!(
            self.body["type"].is_string()
                && self.body["title"].is_string()
                && self.body["detail"].is_string()
        );
        &self.body
    }

    /// Assert a 422 naming `field`.
    #[track_caller]
    pub fn invalid_field(&self, field: &str) {
        let body = self.problem(422);
        let fields: Vec<&str> = body["errors"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["field"].as_str()).collect())
            .unwrap_or_default();
        assert!(
            fields.contains(&field),
            "expected field {field} in {fields:?}; body: {}",
            self.text
        );
    }

    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert!(
            self.status.code < 300,
            "expected success, got {}: {}",
            self.status,
            self.text
        );
        &self.body
    }

    /// The successful answer as `T` (e.g. [`Points`]), every field checked by its type.
    #[track_caller]
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_value(self.ok().clone())
            .unwrap_or_else(|e| panic!("unexpected shape ({e}): {}", self.text))
    }
}

pub struct TestApp {
    pub client: Client,
    pub db: TestDb,
    /// The service's clock: it follows the real one until a test sets it.
    pub clock: ClockControl,
}

/// A logged-in member.
#[derive(Clone, Debug)]
pub struct Actor {
    pub id: Uuid,
    pub email: String,
    pub token: String,
    pub refresh_token: String,
}

/// A seeded organisation: an admin, and whatever the test adds.
#[derive(Clone, Debug)]
pub struct Org {
    pub id: Uuid,
    pub slug: String,
    pub admin: Actor,
}

async fn shared_hash() -> String {
    static HASH: OnceCell<String> = OnceCell::const_new();
    HASH.get_or_init(|| async {
        frontline::auth::passwords::hash(PASSWORD.into())
            .await
            .unwrap()
    })
    .await
    .clone()
}

pub fn figment_for(db: &TestDb) -> Figment {
    let f = frontline::config::figment();
    let f = frontline::config::with_override(f, "database_url", &db.url);
    let f = frontline::config::with_override(f, "run_migrations", false);
    let f = frontline::config::with_override(f, "db_pool_size", 12);
    // Tests run many at once on a small machine, and some race hundreds of requests through
    // one pool: they wait for a connection as long as they always did. Tests of the pool's
    // own bound set theirs (tests/api/faults.rs).
    let f = frontline::config::with_override(f, "db_pool_wait_ms", 10_000);
    let f = frontline::config::with_override(f, "log_level", "off");
    // Metrics on, so that `/metrics` answers like the other protected operations (401 without
    // its token); tests/api/metrics.rs turns them off to see the 404.
    let f = frontline::config::with_override(f, "metrics_token", TEST_METRICS_TOKEN);
    frontline::config::with_override(f, "jwt_secret", TEST_JWT_SECRET)
}

/// The test servers' `metrics_token`.
pub const TEST_METRICS_TOKEN: &str = "test-metrics-token-0123456789";

/// The test servers' signing key (also given to server processes the tests start).
pub const TEST_JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";

impl TestApp {
    /// Let the boards' lag pass on the service's clock (`board_lag_ms`: 750 ms by default):
    /// a board answer then reflects every write made before, whoever made it. Members a write
    /// paid, and whoever made it, need no wait.
    pub fn let_boards_catch_up(&self) {
        self.clock.advance(std::time::Duration::from_secs(1));
    }

    pub async fn new() -> TestApp {
        Self::with(|f| f).await
    }

    /// With configuration changes, e.g. a lower login budget.
    pub async fn with(adjust: impl FnOnce(Figment) -> Figment) -> TestApp {
        // Logs only on request: TEST_LOG=1 cargo test ... (they go to stderr, uncaptured).
        if std::env::var_os("TEST_LOG").is_some() {
            frontline::telemetry::init();
        }
        let db = TestDb::new().await;
        let figment = adjust(figment_for(&db));
        Self::serve(db, figment).await
    }

    /// The application on a database the test prepared itself.
    pub async fn serve(db: TestDb, figment: Figment) -> TestApp {
        let (clock, control) = Clock::settable();
        let rocket = frontline::rocket_with_clock(figment, clock).expect("configuration is valid");
        let client = Client::tracked(rocket).await.expect("rocket ignites");
        TestApp {
            client,
            db,
            clock: control,
        }
    }

    pub async fn request(
        &self,
        method: rocket::http::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = self.client.req(method, path.to_string());
        if let Some(t) = token {
            req.add_header(Header::new("Authorization", format!("Bearer {t}")));
        }
        if let Some(b) = body {
            req.add_header(ContentType::JSON);
            req.set_body(b.to_string());
        }
        read(req.dispatch().await).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.request(rocket::http::Method::Get, path, Some(token), None)
            .await
    }
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.request(rocket::http::Method::Post, path, Some(token), Some(body))
            .await
    }
    pub async fn post_empty(&self, path: &str, token: &str) -> Resp {
        self.request(rocket::http::Method::Post, path, Some(token), None)
            .await
    }
    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Resp {
        self.request(rocket::http::Method::Patch, path, Some(token), Some(body))
            .await
    }
    pub async fn put(&self, path: &str, token: &str, body: Value) -> Resp {
        self.request(rocket::http::Method::Put, path, Some(token), Some(body))
            .await
    }
    pub async fn anon_post(&self, path: &str, body: Value) -> Resp {
        self.request(rocket::http::Method::Post, path, None, Some(body))
            .await
    }

    pub async fn login(&self, slug: &str, email: &str, password: &str) -> Resp {
        self.anon_post(
            "/api/v1/auth/login",
            json!({ "organisation": slug, "email": email, "password": password }),
        )
        .await
    }

    pub async fn login_actor(&self, slug: &str, id: Uuid, email: &str) -> Actor {
        let r = self.login(slug, email, PASSWORD).await;
        let body = r.ok();
        Actor {
            id,
            email: email.to_string(),
            token: body["access_token"].as_str().unwrap().to_string(),
            refresh_token: body["refresh_token"].as_str().unwrap().to_string(),
        }
    }

    /// An organisation with a logged-in admin.
    pub async fn seed_org(&self, slug: &str) -> Org {
        let mut conn = self.db.conn().await;
        let org = frontline::organisations::create(
            &mut conn,
            slug,
            &format!("Org {slug}"),
            "Europe/Oslo",
        )
        .await
        .unwrap();
        let email = format!("admin@{slug}.example");
        let admin = self
            .insert_member(&mut conn, org.id, &email, "Admin", Role::Admin, None)
            .await;
        let admin = self.login_actor(slug, admin, &email).await;
        Org {
            id: org.id,
            slug: slug.to_string(),
            admin,
        }
    }

    async fn insert_member(
        &self,
        conn: &mut AsyncPgConnection,
        org: Uuid,
        email: &str,
        name: &str,
        role: Role,
        team: Option<Uuid>,
    ) -> Uuid {
        members::create(
            conn,
            org,
            NewMember {
                email: email.to_string(),
                display_name: name.to_string(),
                role,
                team_id: team,
                password_hash: Some(shared_hash().await),
                birth_date: None,
                started_on: None,
                employee_number: None,
            },
            None,
        )
        .await
        .unwrap()
    }

    /// A member with the shared test password, logged in.
    pub async fn member(&self, org: &Org, name: &str, role: Role, team: Option<Uuid>) -> Actor {
        let mut conn = self.db.conn().await;
        let email = format!(
            "{}@{}.example",
            name.to_lowercase().replace(' ', "."),
            org.slug
        );
        let id = self
            .insert_member(&mut conn, org.id, &email, name, role, team)
            .await;
        self.login_actor(&org.slug, id, &email).await
    }

    pub async fn team(&self, org: &Org, name: &str) -> Uuid {
        let r = self
            .post("/api/v1/teams", &org.admin.token, json!({ "name": name }))
            .await;
        assert_eq!(r.status, Status::Created, "{}", r.text);
        Uuid::parse_str(r.body["id"].as_str().unwrap()).unwrap()
    }
}

pub async fn read(res: rocket::local::asynchronous::LocalResponse<'_>) -> Resp {
    let status = res.status();
    let headers = res
        .headers()
        .iter()
        .map(|h| {
            (
                h.name().as_str().to_ascii_lowercase(),
                h.value().to_string(),
            )
        })
        .collect::<HashMap<_, _>>();
    let content_type = res
        .content_type()
        .map(|c| format!("{}/{}", c.top(), c.sub()));
    let text = res.into_string().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        body,
        text,
        headers,
        content_type,
    }
}

pub fn id_of(v: &Value) -> Uuid {
    Uuid::parse_str(v["id"].as_str().expect("an id")).unwrap()
}

/// Rebuild an organisation's boards from its ledger (`rebuild_boards`), for tests that compare
/// the boards kept write by write with a rebuild.
pub async fn rebuild_boards(app: &TestApp, org: &Org) {
    use diesel_async::RunQueryDsl;
    let mut conn = app.db.conn().await;
    diesel::sql_query("SELECT rebuild_boards($1)")
        .bind::<diesel::sql_types::Uuid, _>(org.id)
        .execute(&mut conn)
        .await
        .unwrap();
}

/// Switch off an organisation's badges, for tests that count the points of one activity alone.
pub async fn without_badges(app: &TestApp, org: &Org) {
    use diesel_async::RunQueryDsl;
    let mut conn = app.db.conn().await;
    diesel::sql_query("UPDATE badges SET active = false WHERE organisation_id = $1")
        .bind::<diesel::sql_types::Uuid, _>(org.id)
        .execute(&mut conn)
        .await
        .unwrap();
}

/// Every page of a cursor-paginated list at `path` (which may carry a query already),
/// following `next_cursor` until it is absent: the pages' `key` arrays in order, and how many
/// pages there were.
pub async fn all_pages(app: &TestApp, path: &str, key: &str, token: &str) -> (Vec<Value>, usize) {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}{sep}cursor={c}"),
            None => path.to_string(),
        };
        let r = app.get(&url, token).await;
        let body = r.ok();
        items.extend(
            body[key]
                .as_array()
                .expect("a page has its list")
                .iter()
                .cloned(),
        );
        pages += 1;
        assert!(pages < 100, "pagination of {path} never ends");
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => {
                assert!(
                    body["next_cursor"].is_null(),
                    "next_cursor is absent on the last page"
                );
                return (items, pages);
            }
        }
    }
}

/// Asserts `b` is the same problem as `a`: an id of another organisation must be
/// indistinguishable from an id that does not exist.
#[track_caller]
pub fn same_problem(a: &Resp, b: &Resp) {
    assert_eq!(a.status, b.status);
    for key in ["type", "title", "status", "detail"] {
        assert_eq!(
            a.body[key], b.body[key],
            "{key} differs: {} vs {}",
            a.text, b.text
        );
    }
}

/// Pay submission points on submission (the rule of organisations older than issue #12), for
/// tests about something else that count the points of a submission at once.
pub async fn pay_on_submission(app: &TestApp, org: &Org) {
    use diesel_async::RunQueryDsl;
    let mut conn = app.db.conn().await;
    diesel::sql_query(
        "UPDATE point_rules SET submission_points_on_approval = false WHERE organisation_id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(org.id)
    .execute(&mut conn)
    .await
    .unwrap();
}

/// `GET /me/points` and `/members/{id}/points`, typed, for tests that check it field by field.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Points {
    pub member_id: Uuid,
    pub balance: i64,
    pub earned: i64,
    pub spendable: i64,
    pub allowance: Option<Allowance>,
    pub entries: Vec<LedgerEntry>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allowance {
    pub kind: String,
    pub period_start: chrono::NaiveDate,
    pub resets_at: chrono::DateTime<chrono::Utc>,
    pub granted: i32,
    pub spent: i32,
    pub remaining: i32,
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerEntry {
    pub id: Uuid,
    pub member_id: Uuid,
    pub team_id: Option<Uuid>,
    pub points: i32,
    pub reason: String,
    pub source_type: Option<String>,
    pub source_id: Option<Uuid>,
    pub dimension: Option<String>,
    pub note: Option<String>,
    pub created_by: Option<Uuid>,
    pub reverses: Option<Uuid>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A valid win to submit (`POST /api/v1/initiatives`), titled `title`.
pub fn win(title: &str) -> serde_json::Value {
    serde_json::json!({
        "title": title,
        "description": "Called the customer back the same day.",
        "dimension": "empathy",
        "channel": "phone",
        "journey_stage": "after",
        "customer_value": 4,
        "organisation_value": 3,
        "ease": 5,
    })
}
