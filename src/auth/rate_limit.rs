//! Login throttling, kept in PostgreSQL so that every server process on the database shares
//! the counts.
//!
//! An attempt is *reserved* before its password is hashed, by one atomic upsert per key: N
//! concurrent guesses meet on the key's row lock and at most the budget of them get through.
//! Two kinds of budget:
//!
//! - per client address (IPv4, or the IPv6 /64 a single host is usually given): a hard
//!   budget of attempts per window, then `429` until the address has been quiet for the
//!   window. Addresses belong to attackers as much as to anyone, and a successful login gives
//!   its attempt back, so a busy office behind one address is not refused for logging in.
//! - per account (`organisation + email`, or the member changing their password): a few free
//!   attempts, then a delay that doubles with every further one up to a ceiling. It slows a
//!   guesser down instead of locking the owner out: once the delay has passed, the right
//!   password logs in (and clears the account's count). The delay is answered as `429` with
//!   `Retry-After`, never slept on the server.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Bytea, Integer, Nullable};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use sha2::{Digest, Sha256};

use crate::error::AppError;

/// What a throttled key stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Address,
    Account,
    /// An employee number signing in with a PIN: a hard budget, as an address has.
    Pin,
    /// Password reset emails to one account: a hard budget; past it the request is answered
    /// as always, and nothing is sent.
    Reset,
    /// A client address starting single sign-on (each start keeps a row until it expires): an
    /// address's budget, apart from its logins'; a completed sign-in gives its start back.
    SsoStart,
}

/// A throttled key: the digest of what it stands for.
#[derive(Debug, Clone)]
pub struct Key {
    kind: Kind,
    digest: [u8; 32],
}

impl Key {
    fn new(kind: Kind, text: &str) -> Key {
        Key {
            kind,
            digest: Sha256::digest(text.as_bytes()).into(),
        }
    }

    /// A client address: IPv4 as it is, IPv6 by its /64 (one host usually holds a whole
    /// /64, so counting single IPv6 addresses would give it 2^64 budgets).
    pub fn address(ip: Option<IpAddr>) -> Key {
        let text = match ip.map(|ip| ip.to_canonical()) {
            Some(IpAddr::V4(v4)) => format!("address:{v4}"),
            Some(IpAddr::V6(v6)) => {
                let s = v6.segments();
                format!("address:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
            None => "address:unknown".to_string(),
        };
        Key::new(Kind::Address, &text)
    }

    /// An account as a login names it (the slug and email normalised by the caller).
    pub fn account(slug: &str, email: &str) -> Key {
        Key::new(Kind::Account, &format!("account:{slug}\n{email}"))
    }

    /// An employee number signing in with a PIN (the number upper-cased by the caller).
    pub fn pin(slug: &str, number: &str) -> Key {
        Key::new(Kind::Pin, &format!("pin:{slug}\n{number}"))
    }

    /// Password reset emails to a member (by id: however they were asked for).
    pub fn reset(member: uuid::Uuid) -> Key {
        Key::new(Kind::Reset, &format!("reset:{member}"))
    }

    /// A client address starting single sign-on (grouped as [`Key::address`] groups it).
    pub fn sso_start(ip: Option<IpAddr>) -> Key {
        let address = Key::address(ip);
        let mut text = b"sso-start:".to_vec();
        text.extend_from_slice(&address.digest);
        Key {
            kind: Kind::SsoStart,
            digest: Sha256::digest(&text).into(),
        }
    }
}

/// The throttle's settings, as Rocket state.
#[derive(Debug, Clone)]
pub struct LoginThrottle {
    pub window: Duration,
    /// Attempts per address per window.
    pub per_address: u32,
    /// Attempts per account before delays start.
    pub free_per_account: u32,
    /// The first delay; each further attempt doubles it.
    pub delay_base: Duration,
    /// The longest delay.
    pub delay_max: Duration,
    /// Password reset emails per account per window.
    pub resets_per_account: u32,
    /// Addresses the shared counts refused lately; see [`LoginThrottle::refused_lately`].
    pub refusals: Arc<Refusals>,
}

/// Addresses whose budget the database said was spent, and until when.
///
/// A flood from one address is then answered `429` from memory until that moment, before it
/// queues for a hashing permit (where it would delay everyone else's logins) or costs a round
/// trip. It only repeats what the shared counts already answered: another server process asks
/// the database and hears the same, so no process decides anything alone. Bounded: when full,
/// lapsed entries go, and a new refusal that still finds no room is simply not remembered (the
/// database keeps refusing it).
#[derive(Debug, Default)]
pub struct Refusals {
    until: Mutex<HashMap<[u8; 32], Instant>>,
}

/// PIN attempts per employee number per window.
pub const PIN_ATTEMPTS: i32 = 5;

/// Addresses remembered at once (48 bytes each, well under a MiB).
const MAX_REFUSALS: usize = 16_384;

impl Refusals {
    fn remember(&self, key: &Key, until: Instant) {
        let Ok(mut map) = self.until.lock() else {
            return;
        };
        if map.len() >= MAX_REFUSALS && !map.contains_key(&key.digest) {
            let now = Instant::now();
            map.retain(|_, t| *t > now);
            if map.len() >= MAX_REFUSALS {
                return;
            }
        }
        map.insert(key.digest, until);
    }

    /// Seconds (rounded up) until `key` may try again, if it was refused and that has not
    /// passed.
    fn wait(&self, key: &Key) -> Option<u64> {
        let mut map = self.until.lock().ok()?;
        let until = *map.get(&key.digest)?;
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            map.remove(&key.digest);
            return None;
        }
        Some(left.as_millis().div_ceil(1000).max(1) as u64)
    }
}

/// (free attempts, first delay, longest delay) in the SQL function `login_delay`'s terms.
struct Curve {
    free: i32,
    base_ms: i64,
    max_ms: i64,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl LoginThrottle {
    /// `429` at once when the database refused this address lately and the wait it gave has
    /// not passed: checked before a login queues for a hashing permit.
    pub fn refused_lately(&self, key: &Key) -> Result<(), AppError> {
        match self.refusals.wait(key) {
            Some(secs) => Err(refusal(key.kind, secs)),
            None => Ok(()),
        }
    }

    fn curve(&self, kind: Kind) -> Curve {
        match kind {
            // The budget is spent: wait until the address has been quiet for the window.
            Kind::Address | Kind::SsoStart => Curve {
                free: i32::try_from(self.per_address.max(1)).unwrap_or(i32::MAX),
                base_ms: ms(self.window),
                max_ms: ms(self.window),
            },
            // A PIN has 10^4 to 10^8 values: a few guesses per window, then none until the
            // window has passed (the owner signs in with their password meanwhile).
            Kind::Pin => Curve {
                free: PIN_ATTEMPTS,
                base_ms: ms(self.window),
                max_ms: ms(self.window),
            },
            Kind::Reset => Curve {
                free: i32::try_from(self.resets_per_account.max(1)).unwrap_or(i32::MAX),
                base_ms: ms(self.window),
                max_ms: ms(self.window),
            },
            Kind::Account => Curve {
                free: i32::try_from(self.free_per_account.max(1)).unwrap_or(i32::MAX),
                base_ms: ms(self.delay_base).max(1),
                max_ms: ms(self.delay_max.min(self.window)).max(1),
            },
        }
    }

    /// Reserve an attempt for `key`, or answer `429` with the seconds until one is allowed.
    pub async fn reserve(&self, conn: &mut AsyncPgConnection, key: &Key) -> Result<(), AppError> {
        #[derive(diesel::QueryableByName)]
        struct Reserved {
            #[diesel(sql_type = Nullable<Integer>)]
            attempts: Option<i32>,
            #[diesel(sql_type = Nullable<BigInt>)]
            wait_ms: Option<i64>,
        }
        let c = self.curve(key.kind);
        // The WHERE of DO UPDATE decides: when it is false the row is left alone and the
        // INSERT returns nothing. It is evaluated under the row's lock, against the latest
        // committed version, so concurrent reservations count one another.
        let r: Reserved = diesel::sql_query(
            "WITH reserved AS (
                 INSERT INTO login_attempts AS a (key, attempts, last_attempt_at, next_attempt_at)
                 VALUES ($1, 1, now(), now() + login_delay(1, $2, $3, $4))
                 ON CONFLICT (key) DO UPDATE SET
                     attempts = CASE WHEN a.last_attempt_at + $5 * interval '1 millisecond' <= now()
                                     THEN 1 ELSE a.attempts + 1 END,
                     last_attempt_at = greatest(a.last_attempt_at, now()),
                     next_attempt_at = now() + login_delay(
                         CASE WHEN a.last_attempt_at + $5 * interval '1 millisecond' <= now()
                              THEN 1 ELSE a.attempts + 1 END, $2, $3, $4)
                 WHERE a.next_attempt_at IS NULL
                    OR a.next_attempt_at <= now()
                    OR a.last_attempt_at + $5 * interval '1 millisecond' <= now()
                 RETURNING a.attempts
             )
             SELECT (SELECT attempts FROM reserved) AS attempts,
                    (SELECT ceil(extract(epoch FROM
                                least(next_attempt_at, last_attempt_at + $5 * interval '1 millisecond')
                                - now()) * 1000)::bigint
                     FROM login_attempts WHERE key = $1) AS wait_ms",
        )
        .bind::<Bytea, _>(&key.digest[..])
        .bind::<Integer, _>(c.free)
        .bind::<BigInt, _>(c.base_ms)
        .bind::<BigInt, _>(c.max_ms)
        .bind::<BigInt, _>(ms(self.window))
        .get_result(conn)
        .await?;
        if r.attempts.is_some() {
            return Ok(());
        }
        // Refused. The wait is unknown only when the blocking row was committed after this
        // statement's snapshot was taken: it was reserved a moment ago, so a second will do.
        let secs = r
            .wait_ms
            .map_or(1, |ms| u64::try_from(ms.max(0)).unwrap_or(0).div_ceil(1000))
            .max(1);
        if key.kind == Kind::Address {
            self.refusals
                .remember(key, Instant::now() + Duration::from_secs(secs));
        }
        Err(refusal(key.kind, secs))
    }

    /// Reserve a sign-in's attempts: one for the client's `address` and one for what it signs
    /// in as (`key`: an account, an employee number's PIN), both or neither. Both are reserved
    /// before any hashing, so concurrent guesses count one another.
    pub async fn reserve_sign_in(
        &self,
        conn: &mut AsyncPgConnection,
        address: &Key,
        key: &Key,
    ) -> Result<(), AppError> {
        self.reserve(conn, address).await?;
        if let Err(refused) = self.reserve(conn, key).await {
            self.give_back(conn, address).await;
            return Err(refused);
        }
        Ok(())
    }

    /// A sign-in with the right secret for `key`: not a failure, neither for `key` (whose count
    /// starts again) nor for the `address`.
    pub async fn signed_in(&self, conn: &mut AsyncPgConnection, address: &Key, key: &Key) {
        self.clear(conn, key).await;
        self.give_back(conn, address).await;
    }

    /// Give a reserved attempt back: it turned out not to be a failure (an address's right
    /// password), or no password was checked (the hasher was too busy).
    pub async fn give_back(&self, conn: &mut AsyncPgConnection, key: &Key) {
        let c = self.curve(key.kind);
        let done = diesel::sql_query(
            "UPDATE login_attempts SET
                 attempts = greatest(attempts - 1, 0),
                 next_attempt_at = last_attempt_at + login_delay(greatest(attempts - 1, 0), $2, $3, $4)
             WHERE key = $1",
        )
        .bind::<Bytea, _>(&key.digest[..])
        .bind::<Integer, _>(c.free)
        .bind::<BigInt, _>(c.base_ms)
        .bind::<BigInt, _>(c.max_ms)
        .execute(conn)
        .await;
        if let Err(e) = done {
            tracing::warn!(error = %e, "login throttle: could not give an attempt back");
        }
    }

    /// The account's owner proved their password: its count starts again.
    pub async fn clear(&self, conn: &mut AsyncPgConnection, key: &Key) {
        let done = diesel::sql_query("DELETE FROM login_attempts WHERE key = $1")
            .bind::<Bytea, _>(&key.digest[..])
            .execute(conn)
            .await;
        if let Err(e) = done {
            tracing::warn!(error = %e, "login throttle: could not clear an account's count");
        }
    }

    /// Rows of keys that have been quiet for the window: they would start again anyway.
    pub async fn purge(&self, conn: &mut AsyncPgConnection) -> Result<usize, AppError> {
        Ok(diesel::sql_query(
            "DELETE FROM login_attempts
             WHERE last_attempt_at + $1 * interval '1 millisecond' <= now()",
        )
        .bind::<BigInt, _>(ms(self.window))
        .execute(conn)
        .await?)
    }
}

/// Every refusal, from the database or from memory ([`Refusals`]), is made here.
fn refusal(kind: Kind, secs: u64) -> AppError {
    let key = match kind {
        Kind::Address => "address",
        Kind::Account => "account",
        Kind::Pin => "pin",
        Kind::Reset => "reset",
        Kind::SsoStart => "sso_start",
    };
    metrics::counter!("frontline_login_throttle_refusals_total", "key" => key).increment(1);
    let detail = match kind {
        Kind::Address => {
            format!("too many login attempts from your address; try again in {secs} seconds")
        }
        Kind::Account => {
            format!("too many failed attempts for this account; try again in {secs} seconds")
        }
        Kind::Reset => {
            format!("a password reset was sent to this account lately; try again in {secs} seconds")
        }
        Kind::Pin => format!(
            "too many PIN attempts for this employee number; sign in with your password, or try the PIN again in {secs} seconds"
        ),
        Kind::SsoStart => format!(
            "too many unfinished single sign-ons from your address; try again in {secs} seconds"
        ),
    };
    AppError::TooManyRequests {
        detail,
        retry_after_secs: secs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_are_grouped_by_64_and_mapped_ipv4_is_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(Key::address(Some(a)).digest, Key::address(Some(b)).digest);
        assert_ne!(Key::address(Some(a)).digest, Key::address(Some(c)).digest);
        let v4: IpAddr = "203.0.113.9".parse().unwrap();
        let mapped: IpAddr = "::ffff:203.0.113.9".parse().unwrap();
        assert_eq!(
            Key::address(Some(v4)).digest,
            Key::address(Some(mapped)).digest
        );
    }

    #[test]
    fn the_slug_cannot_run_into_the_email() {
        assert_ne!(
            Key::account("acme", "a@b.io").digest,
            Key::account("acme\na", "b.io").digest
        );
    }
}
