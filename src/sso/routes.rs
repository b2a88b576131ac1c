//! The HTTP edge of single sign-on: the organisation's provider (admins,
//! `/api/v1/organisation/sso`) and the sign-in (`/api/v1/auth/sso/...`: start, callback,
//! exchange). Each handler parses, authorises and calls one function of `settings` or `flow`.

use rocket::form::FromForm;
use rocket::http::{Header, Status};
use rocket::serde::json::Json;
use rocket::{Request, Response, State, delete, get, post, put};
use utoipa::IntoParams;

use super::flow::{self, Callback, Exchanged, Start};
use super::settings::{self, Checked};
use super::{Providers, PutSsoSettings, SsoExchange, SsoSettings};
use crate::auth::client_addr::ClientAddr;
use crate::auth::rate_limit::LoginThrottle;
use crate::auth::tokens::JwtKeys;
use crate::auth::{Admin, AuthPolicy, TokenResponse};
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::http::JsonBody;
use crate::openapi::responses::{Forbidden, Invalid, Unauthorized};
use crate::read_cache::WriteNote;

type Problem = crate::error::Problem;

/// A `302 Found` to a URL made here (the provider's, or an app's registered URI), never
/// cached and not leaking the URL onwards as a referrer.
pub struct Found(String);

impl<'r> rocket::response::Responder<'r, 'static> for Found {
    fn respond_to(self, _: &'r Request<'_>) -> rocket::response::Result<'static> {
        Response::build()
            .status(Status::Found)
            .header(Header::new("Location", self.0))
            .header(Header::new("Cache-Control", "no-store"))
            .header(Header::new("Referrer-Policy", "no-referrer"))
            .ok()
    }
}

/// The organisation's single sign-on (admins), without its client secret.
#[utoipa::path(
    tag = "organisation", operation_id = "show_sso",
    security(("bearer" = [])),
    responses(
        (status = 200, body = SsoSettings),
        Unauthorized,
        Forbidden,
        (status = 404, description = "The organisation has no single sign-on", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/organisation/sso")]
pub async fn show(
    db: &State<Db>,
    providers: &State<Providers>,
    admin: Admin,
) -> AppResult<Json<SsoSettings>> {
    let mut conn = db.conn().await?;
    Ok(Json(
        settings::get(&mut conn, providers, admin.organisation_id).await?,
    ))
}

/// Set the organisation's single sign-on (admins): the issuer is checked by fetching its
/// discovery document. Audited (never the secret).
#[utoipa::path(
    tag = "organisation", operation_id = "set_sso",
    security(("bearer" = [])),
    request_body = PutSsoSettings,
    responses(
        (status = 200, body = SsoSettings),
        Unauthorized,
        Forbidden,
        (status = 404, description = "`jit_team_id` is no team of the organisation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The server has no `public_base_url`, under which the provider's redirect URI lies", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid: `issuer` when its discovery document cannot be fetched or names another issuer; `break_glass_admins` when one is not an active admin (or none is named while `required`); `client_secret` when missing the first time", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/api/v1/organisation/sso", data = "<body>")]
pub async fn set(
    db: &State<Db>,
    providers: &State<Providers>,
    admin: Admin,
    body: JsonBody<PutSsoSettings>,
) -> AppResult<Json<SsoSettings>> {
    let checked = Checked::parse(body.0, providers).await?;
    let mut conn = db.conn().await?;
    let (org, by) = (admin.organisation_id, admin.member_id);
    Ok(Json(
        settings::put(&mut conn, providers, org, by, checked).await?,
    ))
}

/// Remove the organisation's single sign-on (admins): password sign-in works for everyone
/// again. Members keep the subject they were linked by. Audited.
#[utoipa::path(
    tag = "organisation", operation_id = "remove_sso",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        Unauthorized,
        Forbidden,
        (status = 404, description = "The organisation has no single sign-on", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/api/v1/organisation/sso")]
pub async fn remove(db: &State<Db>, admin: Admin) -> AppResult<Status> {
    let mut conn = db.conn().await?;
    settings::delete(&mut conn, admin.organisation_id, admin.member_id).await?;
    Ok(Status::NoContent)
}

#[derive(Debug, FromForm, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StartParams {
    /// The organisation's slug.
    #[param(max_length = 63)]
    pub organisation: Option<String>,
    /// Where the sign-in returns to: one of the organisation's `app_redirect_uris`, exactly.
    #[param(max_length = 500)]
    pub redirect_uri: Option<String>,
    /// Anything the app wants back with the answer (at most 500 characters), e.g. its own
    /// anti-forgery value.
    #[param(max_length = 500)]
    pub state: Option<String>,
}

/// Start signing in with the organisation's identity provider: a browser (or an app's
/// in-app browser tab) is sent to the provider, and comes back through the callback to
/// `redirect_uri` with `?code=` (exchange it at `/auth/sso/exchange`) or `?error=`.
#[utoipa::path(
    tag = "auth", operation_id = "sso_start",
    params(StartParams),
    responses(
        (status = 302, description = "To the provider's authorization endpoint", headers(("Location" = String, description = "The provider's sign-in page"))),
        (status = 404, description = "No organisation with that slug signs in with single sign-on", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`organisation`, `redirect_uri` (not one the organisation registered) or `state` is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many unfinished sign-ins from this address; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The provider cannot be reached, or the database is unavailable; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/auth/sso/start?<params..>")]
pub async fn start(
    db: &State<Db>,
    providers: &State<Providers>,
    throttle: &State<LoginThrottle>,
    client: ClientAddr,
    note: WriteNote<'_>,
    params: StartParams,
) -> AppResult<Found> {
    note.nothing_cached();
    let req = Start::parse(
        params.organisation.as_deref(),
        params.redirect_uri.as_deref(),
        params.state.as_deref(),
    )?;
    Ok(Found(
        flow::start(db, providers, throttle, client, req).await?,
    ))
}

#[derive(Debug, FromForm, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackParams {
    /// The provider's authorization code.
    #[param(max_length = 4096)]
    pub code: Option<String>,
    /// The sign-in's state, as the start sent it.
    #[param(max_length = 200)]
    pub state: Option<String>,
    /// The provider's error (`access_denied`, ...) instead of a code.
    #[param(max_length = 200)]
    pub error: Option<String>,
    /// The provider's words on its error (logged, shortened).
    #[param(max_length = 2000)]
    pub error_description: Option<String>,
    /// The issuer of the answer (RFC 9207), where the provider names it.
    #[param(max_length = 500)]
    pub iss: Option<String>,
}

/// Where the identity provider sends the browser back (register this URI there:
/// `{public_base_url}/api/v1/auth/sso/callback`). Answers with a redirect to the app.
#[utoipa::path(
    tag = "auth", operation_id = "sso_callback",
    params(CallbackParams),
    responses(
        (status = 302, description = "To the app's URI with `code` (single-use, a minute) or `error` (`access_denied`, `provider_error`, `invalid_token`, `no_account`, `account_disabled`, `sso_not_configured`, `server_error`), and the app's `state`", headers(("Location" = String, description = "The app's URI"))),
        (status = 401, description = "The state is unknown, already used or expired (10 minutes): start again", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No `state`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/auth/sso/callback?<params..>")]
pub async fn callback(
    db: &State<Db>,
    providers: &State<Providers>,
    throttle: &State<LoginThrottle>,
    client: ClientAddr,
    note: WriteNote<'_>,
    params: CallbackParams,
) -> AppResult<Found> {
    note.nothing_cached();
    let q = Callback {
        code: params.code,
        state: params.state,
        error: params.error,
        error_description: params.error_description,
        iss: params.iss,
    };
    let (org, to) = flow::callback(db, providers, throttle, client, q).await?;
    // A member may have been linked or created.
    note.organisation(org);
    Ok(Found(to))
}

/// Exchange the one-time code a single sign-on returned to the app for tokens: the same
/// answer as a password login. A code works once, within a minute; presenting a used code
/// again ends the session it opened (someone else holds it) and answers `401`.
#[utoipa::path(
    tag = "auth", operation_id = "sso_exchange",
    request_body = SsoExchange,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "Unknown, expired or used code (a used one ends its session), or a deactivated account", body = Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[post("/api/v1/auth/sso/exchange", data = "<body>")]
pub async fn exchange(
    db: &State<Db>,
    keys: &State<JwtKeys>,
    policy: &State<AuthPolicy>,
    note: WriteNote<'_>,
    body: JsonBody<SsoExchange>,
) -> AppResult<Json<TokenResponse>> {
    note.nothing_cached();
    match flow::exchange(db, policy, &body.0.code).await? {
        Exchanged::Replayed(org) => {
            note.organisation(org);
            Err(AppError::Unauthorized(
                "this sign-in code was already used; the session it opened has been ended for safety: sign in again".into(),
            ))
        }
        Exchanged::Opened(member, org, role, session) => {
            tracing::info!(member_id = %member, organisation_id = %org, "login with single sign-on");
            Ok(Json(TokenResponse {
                access_token: keys.issue(member, org, role, session.session_id)?,
                token_type: "Bearer",
                expires_in: keys.access_ttl_secs,
                refresh_token: session.refresh_token,
            }))
        }
    }
}

crate::http::operations!(
    /// Single sign-on: the organisation's provider and the sign-in.
    SsoApi { show, set, remove, start, callback, exchange }
);
