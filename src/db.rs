//! The connection pool, migrations and database creation.

use diesel::prelude::*;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::time::Duration;

use crate::clock::Clock;
use crate::error::{AppError, AppResult};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

pub type Conn = Object<AsyncPgConnection>;

/// The longest a new connection may take to be made.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The pool, held as Rocket state.
#[derive(Clone)]
pub struct Db {
    pool: Pool<AsyncPgConnection>,
    clock: Clock,
}

/// How a pool's connections are bounded in time.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// The longest a caller waits for a free connection before `503`.
    pub wait: Duration,
    /// Every connection's `statement_timeout` (zero: none): a statement stuck behind a lock or
    /// running away is cancelled, and its request answers `503`, instead of holding the
    /// connection and its client for as long as it takes.
    pub statement_timeout: Duration,
}

impl Db {
    pub fn new(url: &str, size: usize, bounds: Bounds) -> Result<Self, String> {
        Self::with_wait(url, size, bounds, false)
    }

    /// The pool's connections now (open, idle, most it opens) and the requests waiting for
    /// one: what `/metrics` reports.
    pub fn status(&self) -> deadpool::Status {
        self.pool.status()
    }

    /// A pool whose callers wait at most `bounds.wait` for a free connection before `503`.
    ///
    /// Request pools do not ping connections on checkout (that costs a round trip per
    /// request): a connection that broke is found by its next query, which fails that one
    /// request with `503`, and diesel-async then keeps it out of the pool. A pool for long,
    /// rare work (exports) pings (`verify`): a round trip is nothing beside an export, and an
    /// export that started on a dead connection would fail after its headers went out.
    ///
    /// The error says why the pool cannot be built and never holds `url` (it may hold a
    /// password).
    pub fn with_wait(url: &str, size: usize, bounds: Bounds, verify: bool) -> Result<Self, String> {
        // deadpool accepts an empty pool, whose every checkout then times out: a service that
        // starts and answers nothing but 503.
        if size == 0 {
            return Err("a pool needs at least one connection, not 0".into());
        }
        let mut config = ManagerConfig::default();
        config.recycling_method = if verify {
            RecyclingMethod::Verified
        } else {
            RecyclingMethod::Fast
        };
        let timeout_ms = bounds.statement_timeout.as_millis();
        // Set once per connection, when it is made: one round trip per connection, none per
        // request. A transaction may still `SET LOCAL` a longer one (exports do).
        config.custom_setup = Box::new(move |url| {
            Box::pin(async move {
                use diesel_async::AsyncConnection;
                let mut conn = AsyncPgConnection::establish(url).await?;
                if timeout_ms > 0 {
                    // SET takes no bind parameters; the value is a number formatted here.
                    diesel::sql_query(format!("SET statement_timeout = {timeout_ms}"))
                        .execute(&mut conn)
                        .await
                        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                }
                Ok(conn)
            })
        });
        let manager =
            AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
        let pool = Pool::builder(manager)
            .max_size(size)
            .wait_timeout(Some(bounds.wait))
            // A server that does not answer a connection attempt (a network partition rather
            // than a refused port) costs a request this much on top of its wait.
            .create_timeout(Some(CONNECT_TIMEOUT))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Db {
            pool,
            clock: Clock::real(),
        })
    }

    /// The pool whose connections go by `clock` (see [`crate::clock`]).
    pub fn clocked(self, clock: Clock) -> Self {
        Db { clock, ..self }
    }

    pub async fn conn(&self) -> Result<Conn, AppError> {
        let mut conn = self.pool.get().await.map_err(|e| match e {
            // Every connection stayed busy for the whole wait: the server is overloaded, not
            // broken (logged as a warning, so that an operator can tell the two apart).
            deadpool::managed::PoolError::Timeout(_) => {
                tracing::warn!(error = %e, "no database connection free in time");
                AppError::Unavailable("the server is busy; try again shortly".into())
            }
            _ => {
                tracing::error!(error = %e, "database connection unavailable");
                AppError::Unavailable("the database is unavailable; try again shortly".into())
            }
        })?;
        // Only a clock a test has set says anything: the real one costs no round trip.
        if let Some(now) = self.clock.database_setting() {
            diesel::sql_query("SELECT set_config('frontline.now', $1, false)")
                .bind::<diesel::sql_types::Text, _>(now)
                .execute(&mut conn)
                .await?;
        }
        Ok(conn)
    }

    pub async fn ping(&self) -> Result<(), AppError> {
        let mut conn = self.conn().await?;
        diesel::sql_query("SELECT 1")
            .execute(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| {
                tracing::error!(error = %e, "database ping failed");
                AppError::Unavailable("the database does not answer".into())
            })
    }
}

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    exists: bool,
}

/// Split `postgres://.../name?params` into the URL of the maintenance database and `name`.
pub fn maintenance_url(url: &str) -> Option<(String, String)> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://")? + 3;
    let slash = base[scheme_end..].rfind('/')? + scheme_end;
    let name = &base[slash + 1..];
    if name.is_empty() {
        return None;
    }
    let mut maintenance = format!("{}/postgres", &base[..slash]);
    if let Some(q) = query {
        maintenance.push('?');
        maintenance.push_str(q);
    }
    Some((maintenance, name.to_string()))
}

/// Create the database named in `url` when it does not exist yet (for `migrate` on a fresh server).
pub async fn create_database_if_missing(url: &str) -> Result<(), String> {
    use diesel_async::AsyncConnection;
    let Some((maintenance, name)) = maintenance_url(url) else {
        return Err(
            "DATABASE_URL must name a database, e.g. postgres://user@host:5432/frontline".into(),
        );
    };
    if AsyncPgConnection::establish(url).await.is_ok() {
        return Ok(());
    }
    let mut conn = AsyncPgConnection::establish(&maintenance)
        .await
        .map_err(|e| format!("cannot connect to the database server: {e}"))?;
    let exists: Exists =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<diesel::sql_types::Text, _>(&name)
            .get_result(&mut conn)
            .await
            .map_err(|e| format!("cannot query the database server: {e}"))?;
    if !exists.exists {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        diesel::sql_query(format!("CREATE DATABASE {quoted}"))
            .execute(&mut conn)
            .await
            .map_err(|e| format!("cannot create database {name}: {e}"))?;
        tracing::info!(database = %name, "created database");
    }
    Ok(())
}

/// Apply pending migrations. Diesel's migration harness is synchronous, so it runs on a
/// blocking thread through diesel-async's connection wrapper (no libpq needed).
pub async fn run_migrations(url: &str) -> Result<Vec<String>, String> {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
            .map_err(|e| format!("cannot connect to the database: {e}"))?;
        conn.run_pending_migrations(MIGRATIONS)
            .map(|applied| applied.iter().map(|v| v.to_string()).collect())
            .map_err(|e| format!("migration failed: {e}"))
    })
    .await
    .map_err(|e| format!("migration task failed: {e}"))?
}

/// A unit of work that can run more than once (see [`transaction`]).
pub type Work<'c, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = AppResult<T>> + Send + 'c>>;

/// How often a transaction that lost a race (deadlock, serialization failure) is replayed.
pub const CONTENTION_RETRIES: u32 = 5;

/// Run `work` in a transaction, replaying it when it loses a race with concurrent writers:
/// points-granting writes touch shared board rows, and PostgreSQL may abort one of two
/// transactions that lock them in opposite orders. Replaying is safe because the aborted
/// transaction left nothing behind.
pub async fn transaction<T, F>(conn: &mut AsyncPgConnection, work: F) -> AppResult<T>
where
    T: Send,
    F: for<'c> Fn(&'c mut AsyncPgConnection) -> Work<'c, T> + Send + Sync,
{
    use diesel_async::AsyncConnection;
    // The members it paid see their points at once (see read_cache::members_paid), once it
    // has committed.
    // And the members it delivered notifications to have their open streams woken.
    let ((result, paid), woken) = crate::wakeups::collect(crate::read_cache::collect_paid(async {
        let mut attempt = 0;
        loop {
            let result = conn
                .transaction::<_, AppError, _>(async |conn| work(conn).await)
                .await;
            match result {
                Err(lost @ AppError::Contention(_)) if attempt < CONTENTION_RETRIES => {
                    attempt += 1;
                    tracing::debug!(attempt, error = %lost.chain(), "transaction lost a race; replaying");
                    let jitter = u64::from(rand::random::<u8>() % 20);
                    tokio::time::sleep(std::time::Duration::from_millis(
                        5 * u64::from(attempt) + jitter,
                    ))
                    .await;
                }
                other => return other,
            }
        }
    }))
    .await;
    if result.is_ok() {
        crate::read_cache::members_paid(&paid);
        crate::wakeups::fire(&woken);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::maintenance_url;

    #[test]
    fn maintenance_url_keeps_credentials_and_params() {
        assert_eq!(
            maintenance_url("postgres://u:p@h:5432/frontline?sslmode=disable"),
            Some((
                "postgres://u:p@h:5432/postgres?sslmode=disable".into(),
                "frontline".into()
            ))
        );
        assert_eq!(maintenance_url("postgres://h:5432/"), None);
    }
}
