//! Authentication: login, token refresh and rotation, logout, invites and password changes.
//!
//! Setting a password (accepting an invite, which is also the documented password reset, or
//! changing it) ends the member's other sessions and is audited in the same transaction.

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

pub use guards::{Admin, Caller, ClientAddr, HrOrAdmin, LeadOrAdmin};
use rate_limit::{Budget, LoginLimiter};
use tokens::JwtKeys;

use crate::audit::{self, Action, Actor};
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
    pub max_failures_per_account: u32,
    pub max_failures_per_address: u32,
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

/// Log in with an organisation slug, email and password.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, description = "Wrong organisation, email or password, or a deactivated account", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[rocket::post("/api/v1/auth/login", data = "<body>")]
pub async fn login(
    db: &State<Db>,
    keys: &State<JwtKeys>,
    limiter: &State<LoginLimiter>,
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

    let account_key = format!("account:{slug}:{email}");
    let address_key = format!("address:{}", client.0);
    limiter
        .check(&[
            Budget {
                key: &account_key,
                max_failures: policy.max_failures_per_account,
            },
            Budget {
                key: &address_key,
                max_failures: policy.max_failures_per_address,
            },
        ])
        .map_err(|secs| AppError::TooManyRequests {
            detail: format!("too many failed login attempts; try again in {secs} seconds"),
            retry_after_secs: secs,
        })?;

    let mut conn = db.conn().await?;
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
    let stored = found.as_ref().and_then(|f| f.3.clone());
    let valid = passwords::verify(req.password, stored).await?;
    let Some((member_id, org, role, _, deactivated)) = found.filter(|_| valid) else {
        limiter.record_failure(&[&account_key, &address_key]);
        return Err(AppError::Unauthorized(BAD_CREDENTIALS.into()));
    };
    if deactivated {
        return Err(AppError::Unauthorized(BAD_CREDENTIALS.into()));
    }
    limiter.clear(&account_key);
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
    let presented = body.0.refresh_token;
    if presented.trim().is_empty() || presented.len() > 200 {
        return Err(AppError::invalid(
            "refresh_token",
            "must be a refresh token this API issued",
        ));
    }
    let mut conn = db.conn().await?;
    // A refused refresh may have revoked a session (a re-used token) of an organisation we
    // do not learn here: then nothing is noted and every organisation's cache entries go.
    let r = sessions::rotate(&mut conn, presented.trim(), policy).await?;
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
    )
)]
#[rocket::post("/api/v1/auth/invites/accept", data = "<body>")]
pub async fn accept_invite(
    db: &State<Db>,
    keys: &State<JwtKeys>,
    policy: &State<AuthPolicy>,
    note: WriteNote<'_>,
    body: JsonBody<AcceptInviteRequest>,
) -> AppResult<Json<TokenResponse>> {
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
    let hashed = passwords::hash(req.password).await?;
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
        (status = 429, description = "Too many wrong current passwords", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[rocket::post("/api/v1/me/password", data = "<body>")]
pub async fn change_password(
    db: &State<Db>,
    limiter: &State<LoginLimiter>,
    policy: &State<AuthPolicy>,
    caller: Caller,
    body: JsonBody<ChangePasswordRequest>,
) -> AppResult<Status> {
    let req = body.0;
    let account_key = format!("member:{}", caller.member_id);
    limiter
        .check(&[Budget {
            key: &account_key,
            max_failures: policy.max_failures_per_account,
        }])
        .map_err(|secs| AppError::TooManyRequests {
            detail: format!("too many wrong passwords; try again in {secs} seconds"),
            retry_after_secs: secs,
        })?;
    let mut conn = db.conn().await?;
    let (email, stored): (String, Option<String>) = members::table
        .filter(members::organisation_id.eq(caller.organisation_id))
        .filter(members::id.eq(caller.member_id))
        .select((members::email, members::password_hash))
        .first(&mut conn)
        .await?;
    let mut errors = Vec::new();
    validation::password("new_password", &req.new_password, Some(&email), &mut errors);
    if req.new_password == req.current_password {
        errors.push(FieldError::new(
            "new_password",
            "must differ from the current password",
        ));
    }
    if !passwords::verify(req.current_password, stored).await? {
        limiter.record_failure(&[&account_key]);
        errors.insert(
            0,
            FieldError::new("current_password", "is not your current password"),
        );
    }
    check(errors)?;
    limiter.clear(&account_key);
    let hashed = passwords::hash(req.new_password).await?;
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
