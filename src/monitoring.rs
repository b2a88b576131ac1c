//! `GET /metrics`: this process's metrics in Prometheus text format, for operators.
//!
//! The code records through the `metrics` facade (`metrics::counter!` where something happens:
//! `read_cache`, `ledger`, `auth::rate_limit`, `rates`, the [`RequestMetrics`] fairing below); the
//! recorder behind it is `metrics-exporter-prometheus`, installed once per process by
//! [`install`] and rendered by the handler. Nothing is installed while `metrics_token` is unset,
//! so the facade's calls cost nothing then, and `/metrics` answers `404` like an unknown path.
//!
//! Served by the API's own listener behind a bearer token of its own (`metrics_token`), not on a
//! second address: one port to run and to proxy, and a scraper needs no access token of a
//! member. What is recorded (see docs/architecture.md, "Operations"):
//!
//! - `frontline_http_requests_total` and `frontline_http_request_duration_seconds` (a
//!   histogram), by method, route (the route's path template, `/api/v1/teams/{id}`, never the
//!   requested path: the label has as many values as there are routes) and status class;
//! - `frontline_db_pool_connections` (by pool and `state`: `in_use`, `idle`),
//!   `frontline_db_pool_waiting`, `frontline_db_pool_max_connections`, read at each scrape;
//! - `frontline_read_cache_hits_total`, `frontline_read_cache_misses_total` by `kind` of entry;
//! - `frontline_ledger_entries_written_total` by `reason`, `frontline_board_updates_total`;
//! - `frontline_login_throttle_refusals_total` by `key` (`address`, `account`, `pin`, `reset`,
//!   `sso_start`);
//! - `frontline_webhook_attempts_total` by `outcome` (`delivered`, `failed`, `gone`);
//! - `frontline_emails_total` by `outcome` (`sent`, `retry`, `failed`) and `kind`;
//! - `frontline_member_rate_refusals_total` by `action` (`board`, `report`, `comment`):
//!   requests refused because the member's budget for it was spent (`rates`).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use metrics::{
    Label, Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::ContentType;
use rocket::request::{FromRequest, Outcome, Request};
use rocket::{Data, Response, State, get};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::config::ConfigError;
use crate::db::Db;
use crate::error::{AppError, ErrorSlot};
use crate::exports::limits::ExportPool;
use crate::ledger::Reason;
use crate::openapi::responses::Unauthorized;
use crate::rates::Rated;

/// Request latency buckets, in seconds: a cached board answers in well under a millisecond, an
/// export's first byte may take seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often histograms' recent samples are folded in when nobody scrapes: they would
/// otherwise pile up in memory.
const UPKEEP: Duration = Duration::from_secs(5);

/// The recorder is process-wide (the `metrics` facade has one global recorder), while a
/// process may build many services (the tests do): the first to ask installs it.
static RECORDER: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// Install the Prometheus recorder unless it is installed; its handle renders the text.
pub fn install() -> Result<&'static PrometheusHandle, ConfigError> {
    RECORDER
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("frontline_http_request_duration_seconds".into()),
                    LATENCY_BUCKETS,
                )
                .and_then(|builder| builder.install_recorder())
                .map_err(|e| e.to_string())?;
            describe();
            start_at_zero();
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP);
                        upkeep.run_upkeep();
                    }
                })
                .map_err(|e| e.to_string())?;
            Ok(handle)
        })
        .as_ref()
        .map_err(|reason| ConfigError::Metrics(reason.clone()))
}

fn describe() {
    describe_counter!(
        "frontline_http_requests_total",
        "Requests answered, by method, route template and status class"
    );
    describe_histogram!(
        "frontline_http_request_duration_seconds",
        Unit::Seconds,
        "Time from a request's arrival to its response's start, by method, route template and status class"
    );
    describe_gauge!(
        "frontline_db_pool_connections",
        "Open database connections by pool and state (in_use, idle), read at the scrape"
    );
    describe_gauge!(
        "frontline_db_pool_waiting",
        "Requests waiting for a database connection, by pool, read at the scrape"
    );
    describe_gauge!(
        "frontline_db_pool_max_connections",
        "The most connections a pool opens"
    );
    describe_counter!(
        "frontline_read_cache_hits_total",
        "Cached reads answered from memory (an expired entry being reloaded in the background included), by kind"
    );
    describe_counter!(
        "frontline_read_cache_misses_total",
        "Cached reads the request itself loaded from the database (every read while the cache is off), by kind"
    );
    describe_counter!(
        "frontline_ledger_entries_written_total",
        "Ledger entries inserted, by reason (counted at the insert: a transaction that then rolls back or is replayed counts again)"
    );
    describe_counter!(
        "frontline_board_updates_total",
        "Ledger entries applied to the leaderboards (members' rows at once, shared totals through the fold queue)"
    );
    describe_counter!(
        "frontline_login_throttle_refusals_total",
        "Login attempts (and single sign-on starts) refused with 429, by the key whose budget was spent (address, account, pin, sso_start; reset: a password reset email not sent, the account's budget spent, answered as always)"
    );
    describe_counter!(
        "frontline_emails_total",
        "Email sending attempts, by outcome (sent; retry: a temporary failure, tried again later; failed: a permanent refusal or the schedule ran out) and kind"
    );
    describe_counter!(
        "frontline_webhook_attempts_total",
        "Webhook delivery attempts, by outcome (delivered: a 2xx; gone: a 410, which disables the endpoint; failed: any other answer or none)"
    );
    describe_counter!(
        "frontline_member_rate_refusals_total",
        "Requests refused with 429 because the member's budget for the action was spent, by action (board: boards computed uncached, report, comment)"
    );
}

/// The series of rare events, present (at 0) from the first scrape: a rate over a series that
/// appears with its first event misses that event.
fn start_at_zero() {
    for reason in Reason::ALL {
        counter!("frontline_ledger_entries_written_total", "reason" => reason.as_str())
            .increment(0);
    }
    counter!("frontline_board_updates_total").increment(0);
    for key in ["address", "account", "pin", "reset", "sso_start"] {
        counter!("frontline_login_throttle_refusals_total", "key" => key).increment(0);
    }
    for outcome in ["delivered", "failed", "gone"] {
        counter!("frontline_webhook_attempts_total", "outcome" => outcome).increment(0);
    }
    for outcome in ["sent", "retry", "failed"] {
        for kind in crate::mail::EmailKind::ALL {
            counter!("frontline_emails_total", "outcome" => outcome, "kind" => kind.as_str())
                .increment(0);
        }
    }
    for action in Rated::ALL {
        counter!("frontline_member_rate_refusals_total", "action" => action.as_str()).increment(0);
    }
}

/// Who may scrape: the SHA-256 of `metrics_token`, or nobody (`/metrics` answers `404`).
pub struct MetricsAccess(Option<[u8; 32]>);

impl MetricsAccess {
    /// From the `metrics_token` setting: at least 16 bytes, since it guards what the service
    /// is doing to anyone who can reach the port.
    pub fn new(token: Option<&SecretString>) -> Result<MetricsAccess, ConfigError> {
        match token.map(|t| t.expose_secret().as_bytes()) {
            None => Ok(MetricsAccess(None)),
            Some(t) if t.len() < 16 => Err(ConfigError::WeakMetricsToken),
            Some(t) => Ok(MetricsAccess(Some(Sha256::digest(t).into()))),
        }
    }

    pub fn enabled(&self) -> bool {
        self.0.is_some()
    }
}

/// A request that presented the metrics token.
pub struct Scraper;

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Scraper {
    type Error = AppError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, AppError> {
        let expected = req.rocket().state::<MetricsAccess>().and_then(|a| a.0);
        let given = req
            .headers()
            .get_one("Authorization")
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        let refusal = match (expected, given) {
            (None, _) => AppError::NotFound(format!("nothing at {}", req.uri().path())),
            // Digests of equal length are compared, so the time taken tells nothing about
            // how much of the token was right.
            (Some(expected), Some(token)) if Sha256::digest(token.as_bytes())[..] == expected => {
                return Outcome::Success(Scraper);
            }
            (Some(_), _) => AppError::Unauthorized(
                "send the metrics token: Authorization: Bearer <metrics_token>".into(),
            ),
        };
        Outcome::Error((ErrorSlot::put(req, refusal.clone_shallow()), refusal))
    }
}

/// This process's metrics, in Prometheus text format.
///
/// Requests and their latency per route template, database connections, read-cache hits and
/// misses, ledger entries, board updates, login throttle refusals and refusals of members' budgets. Only with the
/// `metrics_token` setting's token; while that setting is unset there is nothing here (`404`).
#[utoipa::path(tag = "operations",
    security(("metrics_token" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4", body = String, content_type = "text/plain; version=0.0.4"),
        Unauthorized,
        (status = 404, description = "Metrics are off: `metrics_token` is not set", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
#[get("/metrics")]
pub fn scrape(
    _scraper: Scraper,
    db: &State<Db>,
    exports: &State<ExportPool>,
) -> Result<(ContentType, String), AppError> {
    let handle = RECORDER
        .get()
        .and_then(|r| r.as_ref().ok())
        .ok_or_else(|| AppError::NotFound("nothing at /metrics".into()))?;
    sample_pool("requests", db.status());
    sample_pool("exports", exports.status());
    let text_format =
        ContentType::new("text", "plain").with_params([("version", "0.0.4"), ("charset", "utf-8")]);
    Ok((text_format, handle.render()))
}

fn sample_pool(pool: &'static str, status: deadpool::Status) {
    let in_use = status.size.saturating_sub(status.available);
    gauge!("frontline_db_pool_connections", "pool" => pool, "state" => "in_use").set(in_use as f64);
    gauge!("frontline_db_pool_connections", "pool" => pool, "state" => "idle")
        .set(status.available as f64);
    gauge!("frontline_db_pool_waiting", "pool" => pool).set(status.waiting as f64);
    gauge!("frontline_db_pool_max_connections", "pool" => pool).set(status.max_size as f64);
}

crate::http::operations!(
    /// The Prometheus scrape.
    MonitoringApi { scrape }
);

/// When the request arrived (request-local).
struct Arrived(Instant);

/// Counts every response and its latency by method, route template and status class.
pub struct RequestMetrics;

#[rocket::async_trait]
impl Fairing for RequestMetrics {
    fn info(&self) -> Info {
        Info {
            name: "request metrics",
            kind: Kind::Request | Kind::Response,
        }
    }

    async fn on_request(&self, req: &mut Request<'_>, _: &mut Data<'_>) {
        req.local_cache(|| Arrived(Instant::now()));
    }

    async fn on_response<'r>(&self, req: &'r Request<'_>, res: &mut Response<'r>) {
        let elapsed = req.local_cache(|| Arrived(Instant::now())).0.elapsed();
        // A request no route matched has no template; its path is the client's to choose.
        let route = req
            .route()
            .map_or_else(|| "unmatched".to_string(), |r| template(r.uri.path()));
        let status = match res.status().code {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        let labels = vec![
            Label::new("method", req.method().as_str()),
            Label::new("route", route),
            Label::new("status", status),
        ];
        counter!("frontline_http_requests_total", labels.clone()).increment(1);
        histogram!("frontline_http_request_duration_seconds", labels).record(elapsed.as_secs_f64());
    }
}

/// Rocket's `/api/v1/teams/<id>` as the OpenAPI document writes it, `/api/v1/teams/{id}`.
fn template(path: &str) -> String {
    path.replace("..>", ">").replace('<', "{").replace('>', "}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_read_like_the_openapi_paths() {
        assert_eq!(template("/api/v1/teams/<id>"), "/api/v1/teams/{id}");
        assert_eq!(
            template("/api/v1/leaderboards/members"),
            "/api/v1/leaderboards/members"
        );
        assert_eq!(template("/files/<path..>"), "/files/{path}");
    }

    #[test]
    fn a_short_token_is_refused_and_none_turns_metrics_off() {
        let short = SecretString::from("too short");
        assert!(matches!(
            MetricsAccess::new(Some(&short)),
            Err(ConfigError::WeakMetricsToken)
        ));
        assert!(matches!(MetricsAccess::new(None), Ok(a) if !a.enabled()));
    }
}
