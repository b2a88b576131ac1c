//! Authentication: login, token refresh and rotation, logout, invites and password changes
//! (the handlers are in `routes`); the caller guards (`guards`), tokens, sessions, password
//! hashing and login throttling.
//!
//! Setting a password (accepting an invite, which is also the documented password reset, or
//! changing it) ends the member's other sessions and is audited in the same transaction.

pub mod accounts;
pub mod client_addr;
pub mod guards;
pub mod passwords;
pub mod pins;
pub mod rate_limit;
pub mod resets;
pub mod routes;
pub mod sessions;
pub mod sso_policy;
pub mod tokens;

use chrono::Duration;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use client_addr::ClientAddr;
use client_addr::TrustedProxies;
pub use guards::{Admin, Caller, HrOrAdmin, LeadHrOrAdmin, LeadOrAdmin, SessionCache};
use passwords::Hasher;
use rate_limit::LoginThrottle;
pub use routes::routes;

use crate::config::{ConfigError, Settings};
use crate::db::Db;
use crate::vocabulary::vocabulary;

vocabulary!(
    /// A member's role in their organisation.
    Role {
        Employee = "employee",
        TeamLead = "team_lead",
        Hr = "hr",
        Admin = "admin",
    }
    field = "role"
);

/// Lifetimes and limits of credentials, from configuration.
pub struct AuthPolicy {
    pub refresh_ttl: Duration,
    /// A session's absolute lifetime from its login, however often it is refreshed.
    pub session_max_age: Duration,
    pub invite_ttl: Duration,
    /// How long an emailed password reset code works.
    pub reset_ttl: Duration,
}

/// Manage the authentication state (policy, login throttle, password hasher, trusted
/// proxies), warm the hasher up and purge stale throttle rows. Refuses an unusable
/// `trusted_proxies`.
pub fn stage(
    rocket: rocket::Rocket<rocket::Build>,
    settings: &Settings,
) -> Result<rocket::Rocket<rocket::Build>, ConfigError> {
    use rocket::fairing::AdHoc;
    let proxies =
        TrustedProxies::parse(&settings.trusted_proxies).map_err(ConfigError::TrustedProxies)?;
    let window = std::time::Duration::from_secs(settings.login_failure_window_secs.max(1));
    let throttle = LoginThrottle {
        window,
        per_address: settings.login_max_failures_per_address,
        free_per_account: settings.login_max_failures_per_account,
        delay_base: std::time::Duration::from_millis(settings.login_delay_base_ms),
        delay_max: std::time::Duration::from_secs(settings.login_max_delay_secs),
        resets_per_account: settings.password_resets_per_account,
        refusals: Default::default(),
    };
    let purger = throttle.clone();
    Ok(rocket
        .manage(AuthPolicy {
            refresh_ttl: Duration::days(settings.refresh_token_ttl_days),
            session_max_age: Duration::days(settings.session_max_age_days),
            invite_ttl: Duration::hours(settings.invite_ttl_hours),
            reset_ttl: Duration::minutes(settings.password_reset_ttl_minutes.clamp(5, 24 * 60)),
        })
        .manage(throttle)
        .manage(Hasher::new(
            settings.password_hash_permits,
            std::time::Duration::from_millis(settings.password_hash_wait_ms),
        ))
        .manage(proxies)
        .attach(AdHoc::on_ignite(
            "password hasher warm-up",
            |rocket| async {
                let _ = tokio::task::spawn_blocking(passwords::warm_up).await;
                rocket
            },
        ))
        .attach(AdHoc::on_liftoff("login throttle purge", move |rocket| {
            Box::pin(async move {
                // Every process purges; the DELETE is idempotent and cheap on its index.
                let Some(db) = rocket.state::<Db>().cloned() else {
                    return;
                };
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(
                        purger.window.min(std::time::Duration::from_secs(300)),
                    );
                    loop {
                        tick.tick().await;
                        if let Ok(mut conn) = db.conn().await
                            && let Err(e) = purger.purge(&mut conn).await
                        {
                            tracing::warn!(error = %e, "login throttle purge failed");
                        }
                    }
                });
            })
        })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The organisation's slug, e.g. `demo`.
    pub organisation: String,
    /// Who logs in: their email, or their `employee_number` (one of the two).
    pub email: Option<String>,
    /// The number their employer knows them by (case does not matter), instead of `email`.
    pub employee_number: Option<String>,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// A JWT to send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Single-use: exchange it at `/api/v1/auth/refresh` for a new pair.
    pub refresh_token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInviteRequest {
    /// The invite token an admin received when creating the member.
    pub token: String,
    /// The password to set (at least 12 characters).
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    /// The organisation's slug, e.g. `demo`.
    pub organisation: String,
    /// The account's email, or its `employee_number` (one of the two).
    pub email: Option<String>,
    pub employee_number: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordResetRequested {
    /// Always the same, whether or not an account matched.
    pub detail: &'static str,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompletePasswordResetRequest {
    /// The code from the reset email.
    pub token: String,
    /// The new password (at least 12 characters).
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

#[cfg(test)]
mod tests {
    use super::Role;

    #[test]
    fn an_unknown_role_is_refused_naming_the_role_field() {
        let Err(e) = "boss".parse::<Role>() else {
            panic!("boss is not a role");
        };
        assert_eq!(e.field, "role");
        assert_eq!(e.message, "must be one of employee, team_lead, hr, admin");
        assert_eq!("team_lead".parse::<Role>().ok(), Some(Role::TeamLead));
    }
}
