//! Frontline: the backend of an employee-engagement programme for customer experience.
//!
//! `rocket()` builds the whole service from configuration; the binary, the tests and the
//! benchmarks all call it, so what is tested is what runs.

pub mod analytics;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod broadcast;
pub mod celebrations;
pub mod clock;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod exports;
pub mod gamification;
pub mod health;
pub mod http;
pub mod idempotency;
pub mod initiatives;
pub mod integrity;
pub mod kpis;
pub mod leaderboards;
pub mod ledger;
pub mod mail;
pub mod members;
pub mod moderation;
pub mod monitoring;
pub mod notifications;
pub mod open_badges;
pub mod openapi;
pub mod organisations;
pub mod outbound;
pub mod periods;
pub mod privacy;
pub mod provisioning;
pub mod rates;
pub mod read_cache;
pub mod recognition;
pub mod rewards;
pub mod schema;
pub mod scim;
pub mod sql;
pub mod sso;
pub mod teams;
pub mod telemetry;
pub mod validation;
pub mod values;
pub mod vocabulary;
pub mod wakeups;
pub mod webhooks;

use std::time::Duration;

use rocket::fairing::AdHoc;
use rocket::figment::Figment;
use rocket::http::Status;
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use rocket::{Build, Rocket};

use auth::tokens::JwtKeys;
use clock::Clock;
use config::{ConfigError, Settings};
use db::Db;

/// Build the service. Fails with a clear message when the configuration is unusable.
pub fn rocket(figment: Figment) -> Result<Rocket<Build>, ConfigError> {
    rocket_with_clock(figment, Clock::real())
}

/// [`rocket`] going by `clock`: the tests' settable clock (see [`clock`]).
pub fn rocket_with_clock(figment: Figment, clock: Clock) -> Result<Rocket<Build>, ConfigError> {
    let settings = Settings::from_figment(&figment)?;
    let url = settings.database_url()?.to_string();
    let keys = settings.jwt_keys()?;
    let jwt = JwtKeys::new(
        &keys,
        &settings.jwt_issuer,
        &settings.jwt_audience,
        settings.access_token_ttl_secs,
    )
    .ok_or(ConfigError::MissingJwtKey)?;
    let bounds = db::Bounds {
        wait: Duration::from_millis(settings.db_pool_wait_ms),
        statement_timeout: Duration::from_millis(settings.db_statement_timeout_ms),
    };
    let db = Db::new(&url, settings.db_pool_size, bounds)
        .map_err(|reason| ConfigError::DatabasePool {
            setting: "db_pool_size",
            reason,
        })?
        .clocked(clock.clone());
    let export_pool = exports::limits::ExportPool::new(
        &url,
        settings.export_pool_size,
        settings.export_statement_timeout_ms,
        settings.export_concurrency_per_organisation,
    )
    .map_err(|reason| ConfigError::DatabasePool {
        setting: "export_pool_size",
        reason,
    })?;
    // Metrics are recorded only when someone may read them; the recorder goes in before the
    // caches below, whose shelves register their counters when they are built.
    let metrics = monitoring::MetricsAccess::new(settings.metrics_token.as_ref())?;
    if metrics.enabled() {
        monitoring::install()?;
    }
    let publication = open_badges::Publication::new(settings.public_base_url.as_deref())?;
    let sso_providers =
        sso::Providers::new(&settings, publication.urls().map(|u| u.0), clock.clone())?;
    let delivery = webhooks::Delivery::from_settings(&settings)?;
    let deliver_webhooks = delivery.run;
    let run_migrations = settings.run_migrations;
    let broadcast_url = url.clone();
    let fold_every = Duration::from_millis(settings.challenge_fold_interval_ms.max(10));
    let board_fold_every = Duration::from_millis(settings.board_fold_interval_ms.max(10));
    let notification_retention_days = settings.notification_retention_days;
    let celebrate_every = Duration::from_millis(settings.celebration_interval_ms.max(10));
    // The read cache: one state per domain that owns a shelf of it.
    let cache_ttl = Duration::from_millis(settings.read_cache_ttl_ms);
    let session_cache = auth::SessionCache::new(cache_ttl, &clock);
    let organisation_cache = organisations::OrganisationCache::new(cache_ttl, &clock);
    let board_cache = leaderboards::BoardCache::new(
        cache_ttl,
        settings.read_cache_mib.saturating_mul(1 << 20),
        Duration::from_millis(settings.board_lag_ms),
        &clock,
    );

    let mut rocket = rocket::custom(figment);
    if metrics.enabled() {
        // First, so that its latency covers the other fairings' work too.
        rocket = rocket.attach(monitoring::RequestMetrics);
    }
    rocket = rocket
        .manage(metrics)
        .manage(db)
        .manage(clock)
        .manage(export_pool)
        .manage(jwt)
        .manage(session_cache)
        .manage(organisation_cache)
        .manage(board_cache)
        .manage(rates::Rates::new(&settings))
        .manage(publication)
        .manage(sso_providers)
        .manage(notifications::StreamSlots::new(&settings))
        .manage(scim::Locations::new(settings.public_base_url.as_deref()))
        .manage(delivery)
        .attach(telemetry::RequestLog)
        .attach(read_cache::InvalidateOnWrite)
        .attach(AdHoc::on_liftoff("idempotency key purge", |rocket| {
            Box::pin(async move {
                // Stored responses to Idempotency-Key retries are kept for a week, then purged.
                if let Some(db) = rocket.state::<Db>().cloned() {
                    tokio::spawn(async move {
                        let mut tick = tokio::time::interval(Duration::from_secs(3600));
                        loop {
                            tick.tick().await;
                            if let Ok(mut conn) = db.conn().await {
                                match idempotency::purge_expired(&mut conn).await {
                                    Ok(n) if n > 0 => tracing::info!(
                                        purged = n,
                                        "expired idempotency keys purged"
                                    ),
                                    Ok(_) => {}
                                    Err(e) => {
                                        tracing::warn!(error = %e, "idempotency key purge failed")
                                    }
                                }
                            }
                        }
                    });
                }
            })
        }))
        .attach(AdHoc::on_liftoff("write broadcast", move |rocket| {
            Box::pin(async move {
                // Other server processes on this database drop what a write here changed
                // (and this one what theirs did) within a fraction of a second.
                // Open notification streams are woken the same way, cache or not.
                if let Some(db) = rocket.state::<Db>().cloned() {
                    broadcast::start(db, broadcast_url, !cache_ttl.is_zero());
                }
            })
        }))
        .attach(AdHoc::on_liftoff("challenge fold", move |rocket| {
            Box::pin(async move {
                // Counted activity reaches running challenges here, after its own commit (see
                // gamification::challenges::fold), so it costs the activity nothing.
                if let Some(db) = rocket.state::<Db>().cloned() {
                    tokio::spawn(async move {
                        let mut tick = tokio::time::interval(fold_every);
                        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                        loop {
                            tick.tick().await;
                            if let Err(e) = gamification::challenges::fold_all(&db).await {
                                tracing::warn!(error = %e, "challenge fold failed");
                            }
                        }
                    });
                }
            })
        }))
        .attach(AdHoc::on_liftoff("board fold", move |rocket| {
            Box::pin(async move {
                if let Some(db) = rocket.state::<Db>().cloned() {
                    leaderboards::fold::start(db, board_fold_every);
                }
            })
        }))
        .attach(AdHoc::on_liftoff("notification purge", move |rocket| {
            Box::pin(async move {
                if let Some(db) = rocket.state::<Db>().cloned() {
                    notifications::start_purge(db, notification_retention_days);
                }
            })
        }))
        .attach(AdHoc::on_liftoff("member rate purge", |rocket| {
            Box::pin(async move {
                // Rows of members' budgets whose window is over (see rates).
                if let Some(db) = rocket.state::<Db>().cloned() {
                    rates::start_purge(db);
                }
            })
        }))
        .attach(AdHoc::on_liftoff("sso purge", |rocket| {
            Box::pin(async move {
                // Single sign-ons started and never finished, and old one-time codes.
                if let Some(db) = rocket.state::<Db>().cloned() {
                    sso::flow::start_purge(db);
                }
            })
        }))
        .attach(AdHoc::on_liftoff("celebrations", move |rocket| {
            Box::pin(async move {
                // Birthdays and work anniversaries due today, once per member and year
                // whichever process gets there first (see celebrations::award).
                if let (Some(db), Some(clock)) = (
                    rocket.state::<Db>().cloned(),
                    rocket.state::<Clock>().cloned(),
                ) {
                    celebrations::award::start(db, clock, celebrate_every);
                }
            })
        }))
        .attach(AdHoc::on_liftoff("webhook delivery", move |rocket| {
            Box::pin(async move {
                // Sends the outbox's messages (see webhooks::delivery); every process may.
                if deliver_webhooks
                    && let (Some(db), Some(delivery)) = (
                        rocket.state::<Db>().cloned(),
                        rocket.state::<webhooks::Delivery>().cloned(),
                    )
                {
                    webhooks::delivery::start(db, delivery);
                }
            })
        }))
        .register("/", rocket::catchers![catch_all])
        .register("/scim/v2", rocket::catchers![scim::scim_catch]);
    if run_migrations {
        rocket = rocket.attach(AdHoc::try_on_ignite(
            "database migrations",
            move |rocket| async move {
                match db::create_database_if_missing(&url).await {
                    Ok(()) => {}
                    Err(e) => {
                        tracing::error!("{e}");
                        return Err(rocket);
                    }
                }
                match db::run_migrations(&url).await {
                    Ok(applied) => {
                        for m in applied {
                            tracing::info!(migration = %m, "applied migration");
                        }
                        Ok(rocket)
                    }
                    Err(e) => {
                        tracing::error!("{e}");
                        Err(rocket)
                    }
                }
            },
        ));
    }
    rocket = auth::stage(rocket, &settings)?;
    rocket = mail::stage(rocket, &settings)?;
    for routes in [
        health::routes(),
        monitoring::routes(),
        openapi::routes(),
        auth::routes(),
        organisations::routes(),
        teams::routes(),
        members::routes(),
        ledger::routes(),
        leaderboards::routes(),
        gamification::routes(),
        gamification::challenges::routes(),
        audit::routes(),
        privacy::routes(),
        api_keys::routes(),
        exports::routes(),
        kpis::routes(),
        analytics::routes(),
        initiatives::routes(),
        recognition::routes(),
        values::routes(),
        moderation::routes(),
        rewards::routes(),
        integrity::routes(),
        celebrations::routes(),
        open_badges::routes(),
        notifications::routes::routes(),
        webhooks::routes::routes(),
        mail::routes::routes(),
        sso::routes::routes(),
    ] {
        rocket = rocket.mount("/", http::refusing_repeated_query(routes));
    }
    // SCIM answers its own errors (a repeated query field included), so its routes go in as
    // they are.
    rocket = rocket.mount("/", scim::routes());
    Ok(rocket)
}

/// Every error Rocket itself produces (no route, bad parameter, body too large, a panic)
/// becomes the same problem document as our own errors.
#[rocket::catch(default)]
fn catch_all(status: Status, req: &Request<'_>) -> Problem {
    // No handler answered (no route, a refused guard or body, a panic): nothing was written
    // that a cached read holds, unless a guard already named the organisation.
    read_cache::refused(req);
    Problem(error::catch(status, req))
}

struct Problem(Response<'static>);

impl<'r> Responder<'r, 'static> for Problem {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        Ok(self.0)
    }
}
