//! The authentication endpoints: login, refresh, logout, invite acceptance and password
//! change.

use rocket::State;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{delete, post, put};
use uuid::Uuid;

use super::accounts::{self, Code, Credentials, Purpose};
use super::client_addr::ClientAddr;
use super::guards::Caller;
use super::passwords::Hasher;
use super::pins::{self, PinLoginRequest, SetPinRequest};
use super::rate_limit::LoginThrottle;
use super::tokens::JwtKeys;
use super::{
    AcceptInviteRequest, AuthPolicy, ChangePasswordRequest, CompletePasswordResetRequest,
    LoginRequest, PasswordResetRequest, PasswordResetRequested, RefreshRequest, Role,
    TokenResponse, resets, sessions,
};
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::http::JsonBody;
use crate::mail::Mail;
use crate::openapi::responses::{Invalid, Unauthorized};
use crate::read_cache::WriteNote;

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

/// Log in with an organisation slug, email and password.
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, description = "Wrong organisation, email or password, or a deactivated account", body = crate::error::Problem, content_type = "application/problem+json"),
        Invalid,
        (status = 429, description = "Too many attempts from this address, or this account's delay after failed attempts has not passed; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The password hasher is saturated, or the database is unavailable; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/auth/login", data = "<body>")]
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
    let credentials = Credentials::parse(body.0)?;
    let (member_id, org, role, session) =
        accounts::log_in(db, throttle, hasher, policy, client, &note, credentials).await?;
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
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 401, description = "Unknown, expired, revoked or re-used refresh token", body = crate::error::Problem, content_type = "application/problem+json"),
        Invalid,
        (status = 503, description = "The database is unavailable; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/auth/refresh", data = "<body>")]
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
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out"),
        Unauthorized,
    )
)]
#[post("/api/v1/auth/logout")]
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
    tag = "auth",
    request_body = AcceptInviteRequest,
    responses(
        (status = 200, description = "Password set; logged in", body = TokenResponse),
        (status = 401, description = "Unknown, used or expired invite", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Weak password or invalid input", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The password hasher is saturated, or the database is unavailable; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/auth/invites/accept", data = "<body>")]
#[allow(clippy::too_many_arguments)]
pub async fn accept_invite(
    db: &State<Db>,
    keys: &State<JwtKeys>,
    policy: &State<AuthPolicy>,
    hasher: &State<Hasher>,
    mail: &State<Mail>,
    note: WriteNote<'_>,
    body: JsonBody<AcceptInviteRequest>,
) -> AppResult<Json<TokenResponse>> {
    let AcceptInviteRequest { token, password } = body.0;
    let code = Code {
        purpose: Purpose::Invite,
        token,
        password,
    };
    redeem(db, keys, policy, hasher, mail, &note, code).await
}

/// Change the caller's password. Every other session of the caller is revoked.
#[utoipa::path(
    tag = "me",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Password changed; other sessions revoked"),
        Unauthorized,
        (status = 422, description = "Wrong current password, or a weak new one", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong current passwords: wait for the delay; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The password hasher is saturated, or the database is unavailable; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/me/password", data = "<body>")]
pub async fn change_password(
    db: &State<Db>,
    throttle: &State<LoginThrottle>,
    hasher: &State<Hasher>,
    mail: &State<Mail>,
    caller: Caller,
    body: JsonBody<ChangePasswordRequest>,
) -> AppResult<Status> {
    accounts::change_password(db, throttle, hasher, mail, &caller, body.0).await?;
    Ok(Status::NoContent)
}

/// Sign in with an employee number and a PIN, on a shared device (where the organisation
/// allows PINs; never admins or HR). Five wrong PINs for one number stop its PIN sign-ins for
/// 15 minutes (the password still works).
#[utoipa::path(
    tag = "auth",
    request_body = PinLoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "Wrong organisation, employee number or PIN; no PIN set; PINs not allowed; an admin, HR or deactivated account", body = crate::error::Problem, content_type = "application/problem+json"),
        Invalid,
        (status = 429, description = "Too many attempts from this address or for this number; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The hasher is saturated, or the database is unavailable; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/auth/pin-login", data = "<body>")]
#[allow(clippy::too_many_arguments)]
pub async fn pin_login(
    db: &State<Db>,
    keys: &State<JwtKeys>,
    throttle: &State<LoginThrottle>,
    hasher: &State<Hasher>,
    policy: &State<AuthPolicy>,
    client: ClientAddr,
    note: WriteNote<'_>,
    body: JsonBody<PinLoginRequest>,
) -> AppResult<Json<TokenResponse>> {
    note.nothing_cached();
    let (member_id, org, role, session) =
        pins::log_in(db, throttle, hasher, policy, client, &note, body.0).await?;
    tracing::info!(%member_id, organisation_id = %org, "login with a PIN");
    Ok(Json(token_response(
        keys,
        member_id,
        org,
        role,
        session.session_id,
        session.refresh_token,
    )?))
}

/// Set or replace my PIN (with my password), where my organisation allows PINs. Admins and HR
/// may not hold one.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    request_body = SetPinRequest,
    responses(
        (status = 204, description = "Set"),
        Unauthorized,
        (status = 403, description = "Admins and HR sign in with their password only", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The organisation does not allow PINs", body = crate::error::Problem, content_type = "application/problem+json"),
        Invalid,
        (status = 429, description = "Too many wrong passwords; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[put("/api/v1/me/pin", data = "<body>")]
pub async fn set_pin(
    db: &State<Db>,
    throttle: &State<LoginThrottle>,
    hasher: &State<Hasher>,
    caller: Caller,
    body: JsonBody<SetPinRequest>,
) -> AppResult<Status> {
    pins::set(db, throttle, hasher, &caller, body.0).await?;
    Ok(Status::NoContent)
}

/// Remove my PIN.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses((status = 204, description = "Removed (or there was none)"), Unauthorized)
)]
#[delete("/api/v1/me/pin")]
pub async fn remove_pin(db: &State<Db>, caller: Caller) -> AppResult<Status> {
    pins::remove(db, &caller).await?;
    Ok(Status::NoContent)
}

/// Ask for a password reset code by email. The answer is the same whether or not an account
/// matches, and whether or not a code is sent (an account gets a few per 15 minutes).
#[utoipa::path(
    tag = "auth",
    request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "If an active account matches, a code is emailed to it", body = PasswordResetRequested),
        (status = 409, description = "This server sends no email (an admin's new invite sets a password instead)", body = crate::error::Problem, content_type = "application/problem+json"),
        Invalid,
        (status = 429, description = "Too many attempts from this address; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/auth/password-reset", data = "<body>")]
pub async fn request_password_reset(
    db: &State<Db>,
    mail: &State<Mail>,
    throttle: &State<LoginThrottle>,
    policy: &State<AuthPolicy>,
    client: ClientAddr,
    note: WriteNote<'_>,
    body: JsonBody<PasswordResetRequest>,
) -> AppResult<(Status, Json<PasswordResetRequested>)> {
    note.nothing_cached();
    resets::request(db, mail, throttle, policy, client, body.0).await?;
    Ok((
        Status::Accepted,
        Json(PasswordResetRequested {
            detail: resets::REQUESTED,
        }),
    ))
}

/// Set a new password with the code from a reset email, and sign in. Every earlier session
/// of the member ends, and they get an email saying their password changed.
#[utoipa::path(
    tag = "auth",
    request_body = CompletePasswordResetRequest,
    responses(
        (status = 200, description = "Password set; signed in", body = TokenResponse),
        (status = 401, description = "Unknown, used or expired code", body = crate::error::Problem, content_type = "application/problem+json"),
        Invalid,
        (status = 503, description = "The password hasher is saturated, or the database is unavailable; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/auth/password-reset/complete", data = "<body>")]
#[allow(clippy::too_many_arguments)]
pub async fn complete_password_reset(
    db: &State<Db>,
    keys: &State<JwtKeys>,
    policy: &State<AuthPolicy>,
    hasher: &State<Hasher>,
    mail: &State<Mail>,
    note: WriteNote<'_>,
    body: JsonBody<CompletePasswordResetRequest>,
) -> AppResult<Json<TokenResponse>> {
    let CompletePasswordResetRequest { token, password } = body.0;
    let code = Code {
        purpose: Purpose::Reset,
        token,
        password,
    };
    redeem(db, keys, policy, hasher, mail, &note, code).await
}

/// Set the password `code` asks for and sign in: an invite's or a reset's answer.
async fn redeem(
    db: &Db,
    keys: &JwtKeys,
    policy: &AuthPolicy,
    hasher: &Hasher,
    mail: &Mail,
    note: &WriteNote<'_>,
    code: Code,
) -> AppResult<Json<TokenResponse>> {
    // Until the code is consumed, nothing a cached read holds has changed.
    note.nothing_cached();
    let purpose = code.purpose;
    let (member_id, org, role, session) =
        accounts::redeem(db, policy, hasher, mail, note, code).await?;
    tracing::info!(%member_id, organisation_id = %org, ?purpose, "password set with a code");
    Ok(Json(token_response(
        keys,
        member_id,
        org,
        role,
        session.session_id,
        session.refresh_token,
    )?))
}

crate::http::operations!(
    /// The authentication operations.
    AuthApi {
        login, refresh, logout, accept_invite, change_password, pin_login, set_pin, remove_pin,
        request_password_reset, complete_password_reset,
    }
);
