//! Authentication: login, token refresh and rotation, logout, invites and password changes.
//!
//! Setting a password (accepting an invite, which is also the documented password reset, or
//! changing it) ends the member's other sessions and is audited in the same transaction.

pub mod client_addr;
pub mod guards;
pub mod passwords;
pub mod rate_limit;
pub mod sessions;
pub mod tokens;

use std::str::FromStr;

use chrono::{Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use rocket::State;
use rocket::http::Status;
use rocket::serde::json::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub use client_addr::ClientAddr;
use client_addr::TrustedProxies;
pub use guards::{Admin, Caller, HrOrAdmin, LeadOrAdmin};
use passwords::Hasher;
use rate_limit::{Key, LoginThrottle};
use tokens::JwtKeys;

use crate::audit::{self, Action, Actor};
use crate::config::{ConfigError, Settings};

use crate::db::Db;
use crate::error::{AppError, AppResult, FieldError};
use crate::http::{JsonBody, check};
use crate::read_cache::WriteNote;
use crate::schema::{member_invites, members, organisations};
use crate::validation;

/// A member's role in their organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Employee,
    TeamLead,
    Hr,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Employee, Role::TeamLead, Role::Hr, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Employee => "employee",
            Role::TeamLead => "team_lead",
            Role::Hr => "hr",
            Role::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| FieldError::new("role", "must be one of employee, team_lead, hr, admin"))
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lifetimes and limits of credentials, from configuration.
pub struct AuthPolicy {
    pub refresh_ttl: Duration,
    /// A session's absolute lifetime from its login, however often it is refreshed.
    pub session_max_age: Duration,
    pub invite_ttl: Duration,
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
    };
    let purger = throttle.clone();
    Ok(rocket
        .manage(AuthPolicy {
            refresh_ttl: Duration::days(settings.refresh_token_ttl_days),
            session_max_age: Duration::days(settings.session_max_age_days),
            invite_ttl: Duration::hours(settings.invite_ttl_hours),
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
    pub email: String,
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
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

fn token_response(
    keys: &JwtKeys,
    member: Uuid,
    org: Uuid,
    role: Role,
    session: Uuid,
    refresh_token: String,
) -> AppResult<TokenResponse> {
    Ok(TokenResponse {
        access_token: keys.issue(member, org, role, session)?,
        token_type: "Bearer",
        expires_in: keys.access_ttl_secs,
        refresh_token,
    })
}

const BAD_CREDENTIALS: &str = "the organisation, email or password is not right";

/// Longer than any slug an organisation can have; a login naming a longer one is bad input.
const MAX_SLUG_LENGTH: usize = 63;

/// Log in with an organisation slug, email and password.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, description = "Wrong organisation, email or password, or a deactivated account", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address, or this account's delay after failed attempts has not passed; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The password hasher is saturated, or the database is unavailable; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[rocket::post("/api/v1/auth/login", data = "<body>")]
#[allow(clippy::too_many_arguments)]
pub async fn login(
    db: &State<Db>,
    keys: &State<JwtKeys>,
    throttle: &State<LoginThrottle>,
    hasher: &State<Hasher>,
    policy: &State<AuthPolicy>,
    client: ClientAddr,
    note: WriteNote<'_>,
    body: JsonBody<LoginRequest>,
) -> AppResult<Json<TokenResponse>> {
    // A new session and failure counters: nothing a cached read holds.
    note.nothing_cached();
    let req = body.0;
    let mut errors = Vec::new();
    let slug = req.organisation.trim().to_lowercase();
    if slug.is_empty() {
        errors.push(FieldError::new("organisation", "must not be empty"));
    } else if slug.chars().count() > MAX_SLUG_LENGTH {
        errors.push(FieldError::new(
            "organisation",
            "is longer than any organisation's slug",
        ));
    }
    let email = validation::email("email", &req.email, &mut errors);
    if req.password.is_empty() {
        errors.push(FieldError::new("password", "must not be empty"));
    } else if req.password.chars().count() > validation::MAX_PASSWORD_LENGTH {
        errors.push(FieldError::new(
            "password",
            "is longer than any password we accept",
        ));
    }
    check(errors)?;

    // The hashing permit first: when the hasher is saturated (a flood), the login is refused
    // before it costs a database round trip, and it has used none of its budgets.
    let permit = hasher.acquire().await?;
    // Both attempts are reserved before any hashing, so concurrent guesses count each other.
    let address = Key::address(client.0);
    let account = Key::account(&slug, &email);
    let mut conn = db.conn().await?;
    throttle.reserve(&mut conn, &address).await?;
    if let Err(refused) = throttle.reserve(&mut conn, &account).await {
        throttle.give_back(&mut conn, &address).await;
        return Err(refused);
    }
    let found: Option<(Uuid, Uuid, String, Option<String>, bool)> = members::table
        .inner_join(organisations::table)
        .filter(organisations::slug.eq(&slug))
        .filter(members::email.eq(&email))
        .select((
            members::id,
            members::organisation_id,
            members::role,
            members::password_hash,
            members::deactivated_at.is_not_null(),
        ))
        .first(&mut conn)
        .await
        .optional()?;
    // No connection is held while hashing: a flood of logins must not starve
    // the pool that every other request needs.
    drop(conn);
    let stored = found.as_ref().and_then(|f| f.3.clone());
    let valid = match hasher.verify_with(permit, req.password, stored).await {
        Ok(valid) => valid,
        Err(e) => {
            // No password was checked, so the account's owner loses nothing; the address
            // keeps the attempt (a flood from one address meets its budget, which is cheap).
            if let Ok(mut conn) = db.conn().await {
                throttle.give_back(&mut conn, &account).await;
            }
            return Err(e);
        }
    };
    let Some((member_id, org, role, _, deactivated)) = found.filter(|_| valid) else {
        return Err(AppError::Unauthorized(BAD_CREDENTIALS.into()));
    };
    let mut conn = db.conn().await?;
    // The right password: not a failure, whatever else happens.
    throttle.clear(&mut conn, &account).await;
    throttle.give_back(&mut conn, &address).await;
    if deactivated {
        return Err(AppError::Unauthorized(BAD_CREDENTIALS.into()));
    }
    let role = Role::from_str(&role).map_err(|_| AppError::internal("unknown role in database"))?;
    note.organisation(org);
    let session = sessions::start(&mut conn, org, member_id, policy).await?;
    tracing::info!(%member_id, organisation_id = %org, "login");
    Ok(Json(token_response(
        keys,
        member_id,
        org,
        role,
        session.session_id,
        session.refresh_token,
    )?))
}

/// Exchange a refresh token for a new access and refresh token.
///
/// The presented token is consumed. Presenting a consumed token again revokes the whole
/// session (every token descended from the same login).
#[utoipa::path(
    post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 401, description = "Unknown, expired, revoked or re-used refresh token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[rocket::post("/api/v1/auth/refresh", data = "<body>")]
pub async fn refresh(
    db: &State<Db>,
    keys: &State<JwtKeys>,
    policy: &State<AuthPolicy>,
    note: WriteNote<'_>,
    body: JsonBody<RefreshRequest>,
) -> AppResult<Json<TokenResponse>> {
    // Until it says otherwise, a refresh changed nothing a cached read holds.
    note.nothing_cached();
    let presented = body.0.refresh_token;
    if presented.trim().is_empty() || presented.len() > 200 {
        return Err(AppError::invalid(
            "refresh_token",
            "must be a refresh token this API issued",
        ));
    }
    let mut conn = db.conn().await?;
    let r = match sessions::rotate(&mut conn, presented.trim(), policy).await? {
        sessions::Rotation::Rotated(r) => r,
        sessions::Rotation::Refused { why, revoked_in } => {
            // A re-used token revoked its session: that organisation's cached sessions go.
            if let Some(org) = revoked_in {
                note.organisation(org);
            }
            return Err(AppError::Unauthorized(why.into()));
        }
    };
    note.organisation(r.organisation_id);
    Ok(Json(token_response(
        keys,
        r.member_id,
        r.organisation_id,
        r.role,
        r.session_id,
        r.refresh_token,
    )?))
}

/// End the caller's session: its refresh token and access tokens stop working.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "No valid access token", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[rocket::post("/api/v1/auth/logout")]
pub async fn logout(db: &State<Db>, caller: Caller) -> AppResult<Status> {
    let mut conn = db.conn().await?;
    sessions::revoke_session(
        &mut conn,
        caller.organisation_id,
        caller.session_id,
        "logout",
    )
    .await?;
    Ok(Status::NoContent)
}

/// Accept an invite: choose a password and log in. Every earlier session of the member ends
/// (an invite is also how an admin resets a forgotten or compromised password).
#[utoipa::path(
    post, path = "/api/v1/auth/invites/accept", tag = "auth",
    request_body = AcceptInviteRequest,
    responses(
        (status = 200, description = "Password set; logged in", body = TokenResponse),
        (status = 401, description = "Unknown, used or expired invite", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Weak password or invalid input", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The password hasher is saturated, or the database is unavailable; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[rocket::post("/api/v1/auth/invites/accept", data = "<body>")]
pub async fn accept_invite(
    db: &State<Db>,
    keys: &State<JwtKeys>,
    policy: &State<AuthPolicy>,
    hasher: &State<Hasher>,
    note: WriteNote<'_>,
    body: JsonBody<AcceptInviteRequest>,
) -> AppResult<Json<TokenResponse>> {
    // Until the invite is consumed, nothing a cached read holds has changed.
    note.nothing_cached();
    let req = body.0;
    let hash = tokens::hash_opaque_token(req.token.trim());
    let mut conn = db.conn().await?;
    let invite: Option<(Uuid, Uuid, Uuid, String, String, bool)> = member_invites::table
        .inner_join(members::table.on(members::id.eq(member_invites::member_id)))
        .filter(member_invites::token_hash.eq(&hash))
        .filter(member_invites::used_at.is_null())
        .filter(member_invites::expires_at.gt(Utc::now()))
        .select((
            member_invites::id,
            members::id,
            members::organisation_id,
            members::email,
            members::role,
            members::deactivated_at.is_not_null(),
        ))
        .first(&mut conn)
        .await
        .optional()?;
    let Some((invite_id, member_id, org, email, role, deactivated)) = invite.filter(|i| !i.5)
    else {
        return Err(AppError::Unauthorized(
            "this invite is not valid: it may be used or expired; ask an admin for a new one"
                .into(),
        ));
    };
    let _ = deactivated;
    let mut errors = Vec::new();
    validation::password("password", &req.password, Some(&email), &mut errors);
    check(errors)?;
    let hashed = hasher.hash(req.password).await?;
    let role = Role::from_str(&role).map_err(|_| AppError::internal("unknown role in database"))?;
    note.organisation(org);
    let policy = policy.inner();
    let session = conn
        .transaction::<_, AppError, _>(async move |conn| {
            // Consume the invite only if nobody else did in the meantime.
            let consumed = diesel::update(
                member_invites::table
                    .filter(member_invites::id.eq(invite_id))
                    .filter(member_invites::used_at.is_null()),
            )
            .set(member_invites::used_at.eq(Utc::now()))
            .execute(conn)
            .await?;
            if consumed == 0 {
                return Err(AppError::Unauthorized(
                    "this invite has already been used".into(),
                ));
            }
            diesel::update(
                members::table
                    .filter(members::organisation_id.eq(org))
                    .filter(members::id.eq(member_id)),
            )
            .set((
                members::password_hash.eq(hashed),
                members::updated_at.eq(Utc::now()),
            ))
            .execute(conn)
            .await?;
            let ended =
                sessions::revoke_all(conn, org, member_id, None, "password set by invite").await?;
            audit::record(
                conn,
                org,
                Actor::Member(member_id),
                Action::InviteAccepted,
                Some(("member", member_id)),
                serde_json::json!({ "sessions_ended": ended }),
            )
            .await?;
            sessions::start(conn, org, member_id, policy).await
        })
        .await?;
    Ok(Json(token_response(
        keys,
        member_id,
        org,
        role,
        session.session_id,
        session.refresh_token,
    )?))
}

/// Change the caller's password. Every other session of the caller is revoked.
#[utoipa::path(
    post, path = "/api/v1/me/password", tag = "me",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Password changed; other sessions revoked"),
        (status = 401, description = "No valid access token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong current password, or a weak new one", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong current passwords: wait for the delay; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The password hasher is saturated, or the database is unavailable; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[rocket::post("/api/v1/me/password", data = "<body>")]
pub async fn change_password(
    db: &State<Db>,
    throttle: &State<LoginThrottle>,
    hasher: &State<Hasher>,
    caller: Caller,
    body: JsonBody<ChangePasswordRequest>,
) -> AppResult<Status> {
    let req = body.0;
    let mut conn = db.conn().await?;
    let (slug, email, stored): (String, String, Option<String>) = members::table
        .inner_join(organisations::table)
        .filter(members::organisation_id.eq(caller.organisation_id))
        .filter(members::id.eq(caller.member_id))
        .select((organisations::slug, members::email, members::password_hash))
        .first(&mut conn)
        .await?;
    // The login's own account budget: guesses at the current password (a stolen session)
    // and at the login share one count, so neither doubles the other's.
    let account = Key::account(&slug, &email);
    throttle.reserve(&mut conn, &account).await?;
    drop(conn);
    let mut errors = Vec::new();
    validation::password("new_password", &req.new_password, Some(&email), &mut errors);
    if req.new_password == req.current_password {
        errors.push(FieldError::new(
            "new_password",
            "must differ from the current password",
        ));
    }
    let verified = hasher.verify(req.current_password, stored).await;
    let mut conn = db.conn().await?;
    match verified {
        Ok(true) => throttle.clear(&mut conn, &account).await,
        Ok(false) => errors.insert(
            0,
            FieldError::new("current_password", "is not your current password"),
        ),
        Err(e) => {
            throttle.give_back(&mut conn, &account).await;
            return Err(e);
        }
    }
    check(errors)?;
    drop(conn);
    let hashed = hasher.hash(req.new_password).await?;
    let mut conn = db.conn().await?;
    let (org, member, session) = (caller.organisation_id, caller.member_id, caller.session_id);
    conn.transaction::<_, AppError, _>(async move |conn| {
        diesel::update(
            members::table
                .filter(members::organisation_id.eq(org))
                .filter(members::id.eq(member)),
        )
        .set((
            members::password_hash.eq(hashed),
            members::updated_at.eq(Utc::now()),
        ))
        .execute(conn)
        .await?;
        let ended =
            sessions::revoke_all(conn, org, member, Some(session), "password changed").await?;
        audit::record(
            conn,
            org,
            Actor::Member(member),
            Action::PasswordChanged,
            Some(("member", member)),
            serde_json::json!({ "sessions_ended": ended }),
        )
        .await
    })
    .await?;
    Ok(Status::NoContent)
}

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![login, refresh, logout, accept_invite, change_password]
}
