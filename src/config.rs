//! Typed settings: defaults in code, then `Rocket.toml` profiles, then the environment.
//!
//! Every default lives here (Frontline's own keys as serde defaults below, Rocket's keys that
//! we set differently from Rocket in `rocket_defaults`), so a binary started without
//! `Rocket.toml` runs with the same limits as one started beside it. `Rocket.toml` holds only
//! what differs per profile. On top of Rocket's `ROCKET_*` variables we accept `FRONTLINE_*`
//! variables and the conventional `DATABASE_URL`, so a deployment can be configured without
//! knowing Rocket's conventions.

use std::path::PathBuf;

use rocket::config::Shutdown;
use rocket::data::{ByteUnit, Limits};
use rocket::figment::{
    Figment, Profile,
    providers::{Data, Env, Format, Serialized, Toml},
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Figment(#[from] Box<rocket::figment::Error>),
    #[error(
        "configuration: no JWT signing key. Set FRONTLINE_JWT_SECRET (at least 32 bytes) or FRONTLINE_JWT_KEY_FILE"
    )]
    MissingJwtKey,
    #[error("configuration: the JWT signing key must be at least 32 bytes long")]
    WeakJwtKey,
    #[error("configuration: cannot read the JWT key file {path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("configuration: no database_url. Set DATABASE_URL")]
    MissingDatabaseUrl,
    /// A connection pool that cannot be built, with the setting that sizes it. The reason comes
    /// from `db::Db`, which never puts the URL in it: the URL may hold a password.
    #[error("configuration: cannot build the database pool sized by {setting}: {reason}")]
    DatabasePool {
        setting: &'static str,
        reason: String,
    },
    #[error("configuration: trusted_proxies: {0}")]
    TrustedProxies(String),
    #[error("configuration: metrics_token must be at least 16 bytes long")]
    WeakMetricsToken,
    #[error("configuration: cannot install the metrics recorder: {0}")]
    Metrics(String),
    #[error("configuration: public_base_url: {0}")]
    PublicBaseUrl(String),
    #[error("configuration: {0}")]
    Webhooks(String),
    /// The mailer's settings; never the SMTP URL itself, which may hold a password.
    #[error("configuration: {0}")]
    Mail(String),
}

/// Everything Frontline reads from its configuration besides Rocket's own keys.
#[derive(Debug, Deserialize)]
pub struct Settings {
    pub database_url: Option<SecretString>,
    #[serde(default = "defaults::db_pool_size")]
    pub db_pool_size: usize,
    /// How long a request waits for one of the pool's connections before it is answered 503.
    #[serde(default = "defaults::db_pool_wait_ms")]
    pub db_pool_wait_ms: u64,
    /// The longest one statement of a request may run (PostgreSQL's `statement_timeout` on
    /// every pool connection), in milliseconds; past it the request answers 503. 0: no limit.
    /// Exports have their own, `export_statement_timeout_ms`.
    #[serde(default = "defaults::db_statement_timeout_ms")]
    pub db_statement_timeout_ms: u64,
    /// Run pending migrations when `serve` starts (on in the debug profile).
    #[serde(default)]
    pub run_migrations: bool,
    pub jwt_secret: Option<SecretString>,
    pub jwt_key_file: Option<PathBuf>,
    /// Keys that were active before a rotation: tokens they signed stay valid until they expire.
    #[serde(default)]
    pub jwt_previous_secrets: Vec<SecretString>,
    #[serde(default = "defaults::jwt_issuer")]
    pub jwt_issuer: String,
    #[serde(default = "defaults::jwt_audience")]
    pub jwt_audience: String,
    #[serde(default = "defaults::access_token_ttl_secs")]
    pub access_token_ttl_secs: i64,
    #[serde(default = "defaults::refresh_token_ttl_days")]
    pub refresh_token_ttl_days: i64,
    #[serde(default = "defaults::invite_ttl_hours")]
    pub invite_ttl_hours: i64,
    /// A session's absolute lifetime from its login, however often it is refreshed.
    #[serde(default = "defaults::session_max_age_days")]
    pub session_max_age_days: i64,
    #[serde(default = "defaults::login_max_failures_per_account")]
    pub login_max_failures_per_account: u32,
    #[serde(default = "defaults::login_max_failures_per_address")]
    pub login_max_failures_per_address: u32,
    #[serde(default = "defaults::login_failure_window_secs")]
    pub login_failure_window_secs: u64,
    /// The first delay once an account's free attempts are spent; it doubles with every
    /// further attempt, up to `login_max_delay_secs` (and never beyond the window).
    #[serde(default = "defaults::login_delay_base_ms")]
    pub login_delay_base_ms: u64,
    #[serde(default = "defaults::login_max_delay_secs")]
    pub login_max_delay_secs: u64,
    /// Reverse proxies (IPs or CIDR networks) whose address header (`ip_header`) is believed;
    /// from anyone else the socket's address is the client's.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Passwords hashed at once (19 MiB and a core each); 0: one per CPU but one (at least 1).
    #[serde(default)]
    pub password_hash_permits: usize,
    /// How long a request waits for a hashing permit before it is answered 503.
    #[serde(default = "defaults::password_hash_wait_ms")]
    pub password_hash_wait_ms: u64,
    /// How long a cached read (a token's session, an organisation's settings, a leaderboard
    /// answer) may be served when nothing in this process wrote to its organisation since it
    /// was read: the bound on staleness after writes made elsewhere (another instance, the
    /// CLI, SQL). 0 turns the cache off.
    #[serde(default = "defaults::read_cache_ttl_ms")]
    pub read_cache_ttl_ms: u64,
    /// Memory for cached leaderboard answers, in MiB.
    #[serde(default = "defaults::read_cache_mib")]
    pub read_cache_mib: u64,
    /// Connections reserved for engagement exports (their own pool: a slow download never
    /// takes a connection from ordinary requests).
    #[serde(default = "defaults::export_pool_size")]
    pub export_pool_size: usize,
    /// The longest one export query may run, and the longest an export may sit idle in its
    /// transaction waiting for a slow client, in milliseconds.
    #[serde(default = "defaults::export_statement_timeout_ms")]
    pub export_statement_timeout_ms: u64,
    /// Exports one organisation may have running at once, across every server process.
    #[serde(default = "defaults::export_concurrency_per_organisation")]
    pub export_concurrency_per_organisation: u32,
    /// How often each server process folds counted activity into running challenges and
    /// completes those that reached their target, in milliseconds: the longest a completed
    /// challenge waits for its rewards (a read of it completes it at once).
    #[serde(default = "defaults::challenge_fold_interval_ms")]
    pub challenge_fold_interval_ms: u64,
    /// How often each server process moves queued board changes (histograms, team totals)
    /// into the boards' totals, in milliseconds. Boards are exact whenever it runs (reads add
    /// the queue); it bounds how long the queue grows.
    #[serde(default = "defaults::board_fold_interval_ms")]
    pub board_fold_interval_ms: u64,
    /// The most a cached board answer may lag a write made through another request, in
    /// milliseconds (other processes hear of writes up to ~100 ms later on top). The members
    /// a write paid see it at once; 0: every write shows on every board at once.
    #[serde(default = "defaults::board_lag_ms")]
    pub board_lag_ms: u64,
    /// How often each server process awards the birthdays and work anniversaries due today
    /// (and once on start), in milliseconds. Any number of processes may: each is awarded once.
    #[serde(default = "defaults::celebration_interval_ms")]
    pub celebration_interval_ms: u64,
    /// Notification streams (`GET /api/v1/me/notifications/stream`): a `:` comment every this
    /// many seconds keeps proxies from closing an idle stream.
    #[serde(default = "defaults::sse_heartbeat_secs")]
    pub sse_heartbeat_secs: u64,
    /// Each stream reads its inbox at least this often (wakes make it sooner): a lost wake
    /// delays a notification by at most this much.
    #[serde(default = "defaults::sse_poll_secs")]
    pub sse_poll_secs: u64,
    /// Open streams per member per server process; one more answers 429.
    #[serde(default = "defaults::sse_streams_per_member")]
    pub sse_streams_per_member: usize,
    /// Open streams per server process; one more answers 503.
    #[serde(default = "defaults::sse_max_streams")]
    pub sse_max_streams: usize,
    /// A stream ends after this many seconds (the client reconnects with `Last-Event-ID`), so
    /// that a session revoked meanwhile stops streaming.
    #[serde(default = "defaults::sse_max_lifetime_secs")]
    pub sse_max_lifetime_secs: u64,
    /// Notifications older than this many days are purged (hourly).
    #[serde(default = "defaults::notification_retention_days")]
    pub notification_retention_days: u32,
    /// Boards computed for one member because the read cache could not answer (boards by
    /// company value or by distinct givers, summed when asked), per
    /// `uncached_boards_window_secs`; then `429` with `Retry-After`. Cached answers are free.
    #[serde(default = "defaults::uncached_boards_per_member")]
    pub uncached_boards_per_member: u32,
    #[serde(default = "defaults::uncached_boards_window_secs")]
    pub uncached_boards_window_secs: u64,
    /// Reports (of recognitions and comments) one member may file per `reports_window_secs`.
    #[serde(default = "defaults::reports_per_member")]
    pub reports_per_member: u32,
    #[serde(default = "defaults::reports_window_secs")]
    pub reports_window_secs: u64,
    /// Comments (on recognitions and wins) one member may write per `comments_window_secs`.
    #[serde(default = "defaults::comments_per_member")]
    pub comments_per_member: u32,
    #[serde(default = "defaults::comments_window_secs")]
    pub comments_window_secs: u64,
    /// The bearer token `GET /metrics` asks for (at least 16 bytes); unset, there are no
    /// metrics: nothing is recorded and `/metrics` answers 404.
    pub metrics_token: Option<SecretString>,
    /// Where clients reach this service from outside (`https://frontline.example.com`, no
    /// path): the origin of public documents such as Open Badges assertions. Unset, those
    /// documents are not published (their routes answer 404).
    pub public_base_url: Option<String>,
    /// Networks webhooks may reach although they are loopback, private or link-local (CIDR,
    /// e.g. `10.20.0.0/16` for an on-premises HR system). Empty: only public addresses.
    #[serde(default)]
    pub webhook_allowed_networks: Vec<String>,
    /// Webhook URLs must be `https` (plain `http` only for development and tests).
    #[serde(default = "defaults::yes")]
    pub webhook_require_https: bool,
    /// Run the webhook delivery worker in this process (any number of processes may).
    #[serde(default = "defaults::yes")]
    pub webhook_delivery: bool,
    /// How long a receiver has to answer one delivery.
    #[serde(default = "defaults::webhook_timeout_ms")]
    pub webhook_timeout_ms: u64,
    /// How often the worker looks for due messages when it has nothing to do (an event
    /// written by this process wakes it at once).
    #[serde(default = "defaults::webhook_poll_ms")]
    pub webhook_poll_ms: u64,
    /// Deliveries in flight at once per process.
    #[serde(default = "defaults::webhook_concurrency")]
    pub webhook_concurrency: usize,
    /// Seconds from a failed attempt to the next, one per retry; when they run out the message
    /// is failed (an admin may redeliver it).
    #[serde(default = "defaults::webhook_retry_schedule_secs")]
    pub webhook_retry_schedule_secs: Vec<u64>,
    /// An endpoint whose every attempt failed for this long is disabled (an admin re-enables it).
    #[serde(default = "defaults::webhook_disable_after_hours")]
    pub webhook_disable_after_hours: u64,
    /// Delivered and failed messages (and their attempts) are kept this many days.
    #[serde(default = "defaults::webhook_retention_days")]
    pub webhook_retention_days: u64,
    /// The SMTP server email goes out through, as a URL: `smtp://host:587` with STARTTLS
    /// required, `smtps://host:465` for TLS from the first byte, user and password in the URL
    /// (`smtp://user:password@host:587`; percent-encode special characters). Unset (the
    /// default), no email is sent and the API answers with invite tokens instead. Plain
    /// `smtp://...?tls=none` only for development and tests. A secret: never logged.
    pub mail_smtp_url: Option<SecretString>,
    /// The sender of every email, e.g. `Frontline <no-reply@example.com>`; required with
    /// `mail_smtp_url`.
    pub mail_from: Option<String>,
    /// Where replies go (e.g. the HR team's mailbox); unset, no Reply-To.
    pub mail_reply_to: Option<String>,
    /// A PEM file of certificates to trust for the SMTP server besides the public roots (an
    /// internal relay with its own CA).
    pub mail_smtp_ca_file: Option<PathBuf>,
    /// The app's web address (`https://app.example.com`): emails link to
    /// `{mail_app_url}/invite?token=...` and `/reset-password?token=...`. Unset, they carry
    /// the token alone, for the member to paste into the app.
    pub mail_app_url: Option<String>,
    /// Run the email sender in this process (any number of processes may).
    #[serde(default = "defaults::yes")]
    pub mail_delivery: bool,
    /// How often the sender looks for due email when it has nothing to do, in milliseconds
    /// (email queued by this process wakes it at once).
    #[serde(default = "defaults::mail_poll_ms")]
    pub mail_poll_ms: u64,
    /// How long one SMTP conversation may take, in milliseconds.
    #[serde(default = "defaults::mail_timeout_ms")]
    pub mail_timeout_ms: u64,
    /// Seconds from a failed attempt to the next, one per retry; when they run out the email
    /// is failed (an SMTP server's permanent refusal fails it at once).
    #[serde(default = "defaults::mail_retry_schedule_secs")]
    pub mail_retry_schedule_secs: Vec<u64>,
    /// Sent and failed emails stay in the log (without their bodies) this many days.
    #[serde(default = "defaults::mail_retention_days")]
    pub mail_retention_days: u64,
    /// How often each process checks whether team leads' weekly digests are due, in seconds.
    #[serde(default = "defaults::mail_digest_check_secs")]
    pub mail_digest_check_secs: u64,
    /// How long an emailed password reset link works, in minutes.
    #[serde(default = "defaults::password_reset_ttl_minutes")]
    pub password_reset_ttl_minutes: i64,
    /// Password reset emails one account may be sent per `login_failure_window_secs`; asking
    /// more often gets the same answer and no email.
    #[serde(default = "defaults::password_resets_per_account")]
    pub password_resets_per_account: u32,
}

mod defaults {
    pub fn yes() -> bool {
        true
    }
    pub fn webhook_timeout_ms() -> u64 {
        10_000
    }
    pub fn webhook_poll_ms() -> u64 {
        500
    }
    pub fn webhook_concurrency() -> usize {
        32
    }
    /// Standard Webhooks' suggestion: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (about a day).
    pub fn webhook_retry_schedule_secs() -> Vec<u64> {
        vec![5, 300, 1800, 7200, 18_000, 36_000, 36_000]
    }
    pub fn webhook_disable_after_hours() -> u64 {
        120
    }
    pub fn webhook_retention_days() -> u64 {
        30
    }
    pub fn mail_poll_ms() -> u64 {
        2000
    }
    pub fn mail_timeout_ms() -> u64 {
        30_000
    }
    /// About a day: 1 min, 5 min, 15 min, 1 h, 3 h, 6 h, 12 h.
    pub fn mail_retry_schedule_secs() -> Vec<u64> {
        vec![60, 300, 900, 3600, 10_800, 21_600, 43_200]
    }
    pub fn mail_retention_days() -> u64 {
        30
    }
    pub fn mail_digest_check_secs() -> u64 {
        300
    }
    pub fn password_reset_ttl_minutes() -> i64 {
        60
    }
    pub fn password_resets_per_account() -> u32 {
        3
    }
    pub fn db_pool_size() -> usize {
        16
    }
    pub fn db_pool_wait_ms() -> u64 {
        5000
    }
    pub fn db_statement_timeout_ms() -> u64 {
        5000
    }
    pub fn jwt_issuer() -> String {
        "frontline".into()
    }
    pub fn jwt_audience() -> String {
        "frontline-api".into()
    }
    pub fn access_token_ttl_secs() -> i64 {
        15 * 60
    }
    pub fn refresh_token_ttl_days() -> i64 {
        30
    }
    pub fn invite_ttl_hours() -> i64 {
        7 * 24
    }
    pub fn session_max_age_days() -> i64 {
        90
    }
    pub fn login_max_failures_per_account() -> u32 {
        5
    }
    pub fn login_max_failures_per_address() -> u32 {
        50
    }
    pub fn login_failure_window_secs() -> u64 {
        15 * 60
    }
    pub fn login_delay_base_ms() -> u64 {
        1000
    }
    pub fn login_max_delay_secs() -> u64 {
        5 * 60
    }
    pub fn password_hash_wait_ms() -> u64 {
        1000
    }
    pub fn read_cache_ttl_ms() -> u64 {
        10_000
    }
    pub fn read_cache_mib() -> u64 {
        64
    }
    pub fn export_pool_size() -> usize {
        4
    }
    pub fn export_statement_timeout_ms() -> u64 {
        30_000
    }
    pub fn export_concurrency_per_organisation() -> u32 {
        2
    }
    pub fn challenge_fold_interval_ms() -> u64 {
        1000
    }
    pub fn board_fold_interval_ms() -> u64 {
        250
    }
    pub fn board_lag_ms() -> u64 {
        750
    }
    pub fn celebration_interval_ms() -> u64 {
        60_000
    }
    pub fn sse_heartbeat_secs() -> u64 {
        15
    }
    pub fn sse_poll_secs() -> u64 {
        10
    }
    pub fn sse_streams_per_member() -> usize {
        3
    }
    pub fn sse_max_streams() -> usize {
        5000
    }
    pub fn sse_max_lifetime_secs() -> u64 {
        1800
    }
    pub fn notification_retention_days() -> u32 {
        90
    }
    pub fn uncached_boards_per_member() -> u32 {
        60
    }
    pub fn uncached_boards_window_secs() -> u64 {
        60
    }
    pub fn reports_per_member() -> u32 {
        20
    }
    pub fn reports_window_secs() -> u64 {
        60 * 60
    }
    pub fn comments_per_member() -> u32 {
        30
    }
    pub fn comments_window_secs() -> u64 {
        10 * 60
    }
}

/// Rocket's configuration with the values that protect the service. Body limits bound what one
/// request can make the server buffer and parse (Rocket's own defaults allow 1 MiB of JSON);
/// the shutdown grace lets in-flight requests finish on SIGTERM/SIGINT.
fn rocket_defaults() -> rocket::Config {
    rocket::Config {
        limits: Limits::default()
            .limit("json", ByteUnit::Kibibyte(64))
            .limit("form", ByteUnit::Kibibyte(32))
            .limit("data-form", ByteUnit::Kibibyte(64))
            .limit("bytes", ByteUnit::Kibibyte(64))
            .limit("string", ByteUnit::Kibibyte(64))
            // Badge images (src/open_badges/images.rs); never more than 256 KiB.
            .limit("badge-image", ByteUnit::Kibibyte(256)),
        shutdown: Shutdown {
            grace: 5,
            mercy: 5,
            ..Shutdown::default()
        },
        ..rocket::Config::default()
    }
}

/// The figment every entry point reads: code defaults + Rocket.toml (or the file
/// `ROCKET_CONFIG` names) + ROCKET_* + FRONTLINE_* + DATABASE_URL.
pub fn figment() -> Figment {
    layered(Some(
        Toml::file(Env::var_or("ROCKET_CONFIG", "Rocket.toml")).nested(),
    ))
}

/// The same without any configuration file: what a binary started away from `Rocket.toml`
/// reads (tests use it to prove the code defaults hold on their own).
pub fn figment_without_file() -> Figment {
    layered(None)
}

/// Rocket's own layering (`rocket::Config::figment`) with our code defaults under the file.
fn layered(file: Option<Data<Toml>>) -> Figment {
    let mut figment = Figment::from(rocket_defaults());
    if let Some(file) = file {
        figment = figment.merge(file);
    }
    figment
        .merge(Env::prefixed("ROCKET_").ignore(&["PROFILE"]).global())
        .select(Profile::from_env_or(
            "ROCKET_PROFILE",
            rocket::Config::DEFAULT_PROFILE,
        ))
        .merge(Env::prefixed("FRONTLINE_").global())
        .merge(
            Env::raw()
                .only(&["DATABASE_URL"])
                .map(|_| "database_url".into())
                .global(),
        )
}

/// A figment with one value replaced, for tests and the CLI.
pub fn with_override<T: serde::Serialize>(figment: Figment, key: &str, value: T) -> Figment {
    figment.merge(Serialized::global(key, value))
}

impl Settings {
    pub fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        figment
            .extract::<Settings>()
            .map_err(|e| ConfigError::Figment(Box::new(e)))
    }

    pub fn database_url(&self) -> Result<&str, ConfigError> {
        self.database_url
            .as_ref()
            .map(|s| s.expose_secret())
            .ok_or(ConfigError::MissingDatabaseUrl)
    }

    /// The active signing key followed by the previous ones.
    pub fn jwt_keys(&self) -> Result<Vec<Vec<u8>>, ConfigError> {
        let active: Vec<u8> = match (&self.jwt_secret, &self.jwt_key_file) {
            (Some(secret), _) => secret.expose_secret().as_bytes().to_vec(),
            (None, Some(path)) => {
                let raw = std::fs::read(path).map_err(|source| ConfigError::KeyFile {
                    path: path.clone(),
                    source,
                })?;
                raw.trim_ascii().to_vec()
            }
            (None, None) => return Err(ConfigError::MissingJwtKey),
        };
        let mut keys = vec![active];
        keys.extend(
            self.jwt_previous_secrets
                .iter()
                .map(|s| s.expose_secret().as_bytes().to_vec()),
        );
        if keys.iter().any(|k| k.len() < 32) {
            return Err(ConfigError::WeakJwtKey);
        }
        Ok(keys)
    }
}
