//! The sign-in: start, callback, and the app's one-time code.
//!
//! **Start** (`GET /auth/sso/start`): the app's redirect URI must be one the organisation
//! registered (exact match). A `state`, a `nonce` and a PKCE verifier are drawn (256 random
//! bits each) and kept in a row of `sso_flows` for 10 minutes (the state and nonce hashed),
//! so that whichever server process the browser comes back to finishes it. Each start spends
//! one of the address's budget (`login_max_failures_per_address` per window, apart from its
//! logins'); a finished sign-in gives it back, so only abandoned or failed ones count. The
//! browser is sent to the provider's authorization endpoint.
//!
//! **Callback** (`GET /auth/sso/callback`): the state's row is deleted as it is read (a
//! replayed state finds nothing). The code is exchanged at the provider's token endpoint with
//! the verifier and the client's secret; the ID token is checked (`keys`, `id_token`) and the
//! member found (`matching`). The browser then goes back to the app's URI with a one-time
//! `code` (or `error`), never a token.
//!
//! **Exchange** (`POST /auth/sso/exchange`): the code (stored hashed, a minute) opens a
//! session and answers the same tokens as a password login. A second exchange of a code
//! ends the session the first one opened: someone else holds the code.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use diesel::OptionalExtension;
use diesel::sql_types::{Bool, Bytea, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use rand::Rng;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::id_token::{self, Expected, nonce_hash};
use super::matching::{self, Member, Refusal};
use super::settings::{self, Stored};
use super::{Providers, SsoError, keys};
use crate::auth::client_addr::ClientAddr;
use crate::auth::rate_limit::{Key, LoginThrottle};
use crate::auth::sessions::{self, NewSession};
use crate::auth::tokens::hash_opaque_token;
use crate::auth::{AuthPolicy, Role};
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldError};
use crate::http::check;

/// How long a started sign-in may take.
const FLOW_MINUTES: i32 = 10;
/// How long the app has to exchange its code.
const CODE_SECONDS: i32 = 60;
/// The largest token endpoint answer read.
const TOKEN_CAP: usize = 64 * 1024;
/// What every sign-in asks for; the organisation's extra scopes follow.
const BASE_SCOPES: [&str; 3] = ["openid", "email", "profile"];

const UNKNOWN_FLOW: &str =
    "this sign-in is unknown, already finished or expired (10 minutes); start it again";
const UNKNOWN_CODE: &str = "this sign-in code is unknown or expired; sign in again";

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A start, checked for shape.
pub struct Start {
    slug: String,
    redirect_uri: String,
    app_state: Option<String>,
}

impl Start {
    pub fn parse(
        organisation: Option<&str>,
        redirect_uri: Option<&str>,
        state: Option<&str>,
    ) -> AppResult<Start> {
        let mut errors = Vec::new();
        let slug = organisation.unwrap_or("").trim().to_lowercase();
        if slug.is_empty() || slug.chars().count() > 63 {
            errors.push(FieldError::new(
                "organisation",
                "must be your organisation's slug",
            ));
        }
        let redirect_uri = redirect_uri.unwrap_or("").trim().to_string();
        if redirect_uri.is_empty() || redirect_uri.chars().count() > 500 {
            errors.push(FieldError::new(
                "redirect_uri",
                "must be one of the app URIs your organisation registered",
            ));
        }
        let app_state = state.map(str::to_string).filter(|s| !s.is_empty());
        if app_state
            .as_deref()
            .is_some_and(|s| s.chars().count() > 500 || s.chars().any(char::is_control))
        {
            errors.push(FieldError::new(
                "state",
                "must be at most 500 characters, without control characters",
            ));
        }
        check(errors)?;
        Ok(Start {
            slug,
            redirect_uri,
            app_state,
        })
    }
}

/// Start a sign-in: where to send the browser (the provider's authorization endpoint).
pub async fn start(
    db: &Db,
    providers: &Providers,
    throttle: &LoginThrottle,
    client: ClientAddr,
    req: Start,
) -> AppResult<String> {
    let mut conn = db.conn().await?;
    throttle
        .reserve(&mut conn, &Key::sso_start(client.0))
        .await?;
    let provider = settings::load_by_slug(&mut conn, &req.slug).await?;
    let (Some(provider), Some(callback)) = (provider, providers.callback()) else {
        return Err(AppError::NotFound(
            "no organisation with that slug signs in with single sign-on".into(),
        ));
    };
    if !provider.app_redirect_uris.contains(&req.redirect_uri) {
        return Err(AppError::invalid(
            "redirect_uri",
            "is not one of the app URIs your organisation registered (exact match)",
        ));
    }
    // No connection held while the provider is asked.
    drop(conn);
    let doc = providers.discovery(&provider.issuer).await.map_err(|why| {
        tracing::warn!(organisation_id = %provider.organisation_id, reason = %why, "sso start: provider unreachable");
        AppError::Unavailable("your identity provider cannot be reached; try again".into())
    })?;
    let (state, nonce, verifier) = (random_token(), random_token(), random_token());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut conn = db.conn().await?;
    diesel::sql_query(
        "INSERT INTO sso_flows (state_hash, organisation_id, nonce_hash, code_verifier,
                                app_redirect_uri, app_state, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, frontline_now() + make_interval(mins => $7))",
    )
    .bind::<Bytea, _>(hash_opaque_token(&state))
    .bind::<SqlUuid, _>(provider.organisation_id)
    .bind::<Bytea, _>(nonce_hash(&nonce))
    .bind::<Text, _>(&verifier)
    .bind::<Text, _>(&req.redirect_uri)
    .bind::<Nullable<Text>, _>(req.app_state.as_deref())
    .bind::<Integer, _>(FLOW_MINUTES)
    .execute(&mut conn)
    .await?;
    let mut scopes: Vec<&str> = BASE_SCOPES.to_vec();
    scopes.extend(provider.extra_scopes.iter().map(String::as_str));
    let mut url = doc.authorization_endpoint.clone();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &provider.client_id)
        .append_pair("redirect_uri", callback)
        .append_pair("scope", &scopes.join(" "))
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    Ok(url.into())
}

/// What the provider sent the browser back with.
#[derive(Debug, Default)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// RFC 9207: the issuer of the answer, where the provider names it.
    pub iss: Option<String>,
}

/// A sign-in under way, as its row kept it.
struct Flow {
    organisation_id: Uuid,
    nonce_hash: Vec<u8>,
    code_verifier: String,
    app_redirect_uri: String,
    app_state: Option<String>,
}

#[derive(diesel::QueryableByName)]
struct FlowRow {
    #[diesel(sql_type = SqlUuid)]
    organisation_id: Uuid,
    #[diesel(sql_type = Bytea)]
    nonce_hash: Vec<u8>,
    #[diesel(sql_type = Text)]
    code_verifier: String,
    #[diesel(sql_type = Text)]
    app_redirect_uri: String,
    #[diesel(sql_type = Nullable<Text>)]
    app_state: Option<String>,
    #[diesel(sql_type = Bool)]
    live: bool,
}

/// Take the flow of `state` (single use: its row is deleted as it is read).
async fn take_flow(conn: &mut AsyncPgConnection, state: &str) -> AppResult<Flow> {
    let row: Option<FlowRow> = diesel::sql_query(
        "DELETE FROM sso_flows WHERE state_hash = $1
         RETURNING organisation_id, nonce_hash, code_verifier, app_redirect_uri, app_state,
                   expires_at > frontline_now() AS live",
    )
    .bind::<Bytea, _>(hash_opaque_token(state))
    .get_result(conn)
    .await
    .optional()?;
    match row {
        Some(r) if r.live => Ok(Flow {
            organisation_id: r.organisation_id,
            nonce_hash: r.nonce_hash,
            code_verifier: r.code_verifier,
            app_redirect_uri: r.app_redirect_uri,
            app_state: r.app_state,
        }),
        _ => Err(AppError::Unauthorized(UNKNOWN_FLOW.into())),
    }
}

/// Finish a sign-in: the app URI to send the browser to, with `code` or `error`. An unknown,
/// used or expired state is `401` (there is no app URI to trust).
pub async fn callback(
    db: &Db,
    providers: &Providers,
    throttle: &LoginThrottle,
    client: ClientAddr,
    q: Callback,
) -> AppResult<(Uuid, String)> {
    let state = q.state.as_deref().unwrap_or("");
    if state.is_empty() {
        return Err(AppError::invalid("state", "is required"));
    }
    if state.len() > 200 {
        return Err(AppError::Unauthorized(UNKNOWN_FLOW.into()));
    }
    let mut conn = db.conn().await?;
    let flow = take_flow(&mut conn, state).await?;
    let org = flow.organisation_id;
    let provider = settings::load(&mut conn, org).await?;
    drop(conn);
    let outcome = match provider {
        None => Err(Refusal {
            code: SsoError::SsoNotConfigured,
            reason: "the organisation's single sign-on was removed".into(),
        }),
        Some(provider) => finish(db, providers, &flow, &provider, &q).await,
    };
    let answer = match outcome {
        Ok(member) => {
            let mut conn = db.conn().await?;
            let code = issue_code(&mut conn, org, member.id).await?;
            // A finished sign-in is no abandoned start: the address gets its start back.
            throttle
                .give_back(&mut conn, &Key::sso_start(client.0))
                .await;
            tracing::info!(organisation_id = %org, member_id = %member.id, "single sign-on");
            Ok(code)
        }
        Err(refusal) => {
            tracing::warn!(organisation_id = %org, error = refusal.code.as_str(), reason = %refusal.reason, "single sign-on refused");
            Err(refusal.code)
        }
    };
    Ok((org, to_app(&flow, answer)))
}

/// The app's URI with `code` (or `error`) and the app's own `state`.
fn to_app(flow: &Flow, answer: Result<String, SsoError>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    match &answer {
        Ok(code) => query.append_pair("code", code),
        Err(error) => query.append_pair("error", error.as_str()),
    };
    if let Some(state) = &flow.app_state {
        query.append_pair("state", state);
    }
    let sep = if flow.app_redirect_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    format!("{}{sep}{}", flow.app_redirect_uri, query.finish())
}

fn refuse(code: SsoError, reason: impl Into<String>) -> Refusal {
    Refusal {
        code,
        reason: reason.into(),
    }
}

/// The provider's answer checked, and the member it names.
async fn finish(
    db: &Db,
    providers: &Providers,
    flow: &Flow,
    provider: &Stored,
    q: &Callback,
) -> Result<Member, Refusal> {
    if let Some(error) = &q.error {
        let said: String = format!("{error}: {}", q.error_description.as_deref().unwrap_or(""))
            .chars()
            .filter(|c| !c.is_control())
            .take(300)
            .collect();
        let code = match error.as_str() {
            "access_denied" => SsoError::AccessDenied,
            _ => SsoError::ProviderError,
        };
        return Err(refuse(code, format!("the provider answered {said}")));
    }
    if let Some(iss) = &q.iss
        && iss.trim_end_matches('/') != provider.issuer.trim_end_matches('/')
    {
        return Err(refuse(
            SsoError::ProviderError,
            "the answer names another issuer (iss)",
        ));
    }
    let Some(code) = q
        .code
        .as_deref()
        .filter(|c| !c.is_empty() && c.len() <= 4096)
    else {
        return Err(refuse(
            SsoError::ProviderError,
            "the answer carries no code",
        ));
    };
    let id_token = redeem(providers, flow, provider, code).await?;
    let doc = providers
        .discovery(&provider.issuer)
        .await
        .map_err(|why| refuse(SsoError::ProviderError, why))?;
    let cached = providers.cached(&provider.issuer);
    let (issuer, client_id) = (provider.issuer.as_str(), provider.client_id.as_str());
    let claims = keys::verify(
        &providers.client,
        &cached.keys,
        &doc.jwks_uri,
        providers.clock.instant(),
        &id_token,
        |alg| id_token::validation(alg, issuer, client_id),
    )
    .await
    .map_err(|why| refuse(SsoError::InvalidToken, why))?;
    let expected = Expected {
        client_id,
        nonce_hash: &flow.nonce_hash,
        subject_claim: &provider.subject_claim,
        now: Utc::now().timestamp(),
    };
    let who = id_token::identity(&claims, &expected)
        .map_err(|why| refuse(SsoError::InvalidToken, why))?;
    let mut conn = db.conn().await.map_err(Refusal::from)?;
    matching::member_for(&mut conn, provider, &who).await
}

/// The ID token the provider gives for `code`.
async fn redeem(
    providers: &Providers,
    flow: &Flow,
    provider: &Stored,
    code: &str,
) -> Result<String, Refusal> {
    let provider_error = |why: String| refuse(SsoError::ProviderError, why);
    let doc = providers
        .discovery(&provider.issuer)
        .await
        .map_err(provider_error)?;
    let callback = providers.callback().unwrap_or_default();
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", callback),
        ("code_verifier", flow.code_verifier.as_str()),
    ];
    let secret = provider.client_secret.as_str();
    let basic = if doc.secret_in_body {
        form.push(("client_id", provider.client_id.as_str()));
        form.push(("client_secret", secret));
        None
    } else {
        Some((provider.client_id.as_str(), secret))
    };
    let answer = providers
        .client
        .post_form(&doc.token_endpoint, &form, basic, TOKEN_CAP)
        .await
        .map_err(|e| provider_error(format!("the token endpoint: {e}")))?;
    let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    if answer.status != 200 {
        let error: String = body["error"]
            .as_str()
            .unwrap_or("")
            .chars()
            .take(100)
            .collect();
        return Err(provider_error(format!(
            "the token endpoint answered HTTP {} {error}",
            answer.status
        )));
    }
    body["id_token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| provider_error("the token endpoint gave no id_token".into()))
}

/// A one-time code for the app (stored hashed; a minute to exchange it).
async fn issue_code(conn: &mut AsyncPgConnection, org: Uuid, member: Uuid) -> AppResult<String> {
    let code = format!("fsc_{}", random_token());
    diesel::sql_query(
        "INSERT INTO sso_login_codes (code_hash, organisation_id, member_id, expires_at)
         VALUES ($1, $2, $3, frontline_now() + make_interval(secs => $4))",
    )
    .bind::<Bytea, _>(hash_opaque_token(&code))
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(member)
    .bind::<Integer, _>(CODE_SECONDS)
    .execute(conn)
    .await?;
    Ok(code)
}

/// What exchanging a code did.
pub enum Exchanged {
    /// A session opened: (member, organisation, role, the session).
    Opened(Uuid, Uuid, Role, NewSession),
    /// The code was used before: the session it opened is ended (in the organisation).
    Replayed(Uuid),
}

#[derive(diesel::QueryableByName)]
struct CodeRow {
    #[diesel(sql_type = SqlUuid)]
    organisation_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    member_id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    session_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    used_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Bool)]
    live: bool,
    #[diesel(sql_type = Text)]
    role: String,
    #[diesel(sql_type = Bool)]
    deactivated: bool,
}

/// Exchange the app's one-time code for a session (`401` when it is unknown, expired, or
/// its member deactivated).
pub async fn exchange(db: &Db, policy: &AuthPolicy, code: &str) -> AppResult<Exchanged> {
    let code = code.trim();
    if code.is_empty() || code.len() > 200 {
        return Err(AppError::invalid(
            "code",
            "must be the code your sign-in returned",
        ));
    }
    let hash = hash_opaque_token(code);
    let mut conn = db.conn().await?;
    conn.transaction::<_, AppError, _>(async move |conn| {
        let row: Option<CodeRow> = diesel::sql_query(
            "SELECT c.organisation_id, c.member_id, c.session_id, c.used_at,
                    c.expires_at > frontline_now() AS live,
                    m.role, m.deactivated_at IS NOT NULL AS deactivated
             FROM sso_login_codes c
             JOIN members m ON m.organisation_id = c.organisation_id AND m.id = c.member_id
             WHERE c.code_hash = $1
             FOR UPDATE OF c",
        )
        .bind::<Bytea, _>(&hash)
        .get_result(conn)
        .await
        .optional()?;
        let Some(row) = row else {
            return Err(AppError::Unauthorized(UNKNOWN_CODE.into()));
        };
        if row.used_at.is_some() {
            if let Some(session) = row.session_id {
                sessions::revoke_session(conn, row.organisation_id, session, "sso code re-used")
                    .await?;
            }
            tracing::warn!(member_id = %row.member_id, "sso code re-used; its session revoked");
            return Ok(Exchanged::Replayed(row.organisation_id));
        }
        if !row.live || row.deactivated {
            return Err(AppError::Unauthorized(UNKNOWN_CODE.into()));
        }
        let role: Role = row
            .role
            .parse()
            .map_err(|_| AppError::internal("unknown role in database"))?;
        let (org, member) = (row.organisation_id, row.member_id);
        let session = sessions::start(conn, org, member, policy).await?;
        diesel::sql_query(
            "UPDATE sso_login_codes SET used_at = frontline_now(), session_id = $2
             WHERE code_hash = $1",
        )
        .bind::<Bytea, _>(&hash)
        .bind::<SqlUuid, _>(session.session_id)
        .execute(conn)
        .await?;
        Ok(Exchanged::Opened(member, org, role, session))
    })
    .await
}

/// Every minute, in every process: started sign-ins past their 10 minutes go, and codes a day
/// after they expired (kept that long so that a late replay still ends its session).
pub fn start_purge(db: Db) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            let Ok(mut conn) = db.conn().await else {
                continue;
            };
            for statement in [
                "DELETE FROM sso_flows WHERE state_hash IN (SELECT state_hash FROM sso_flows
                     WHERE expires_at < frontline_now() LIMIT 5000)",
                "DELETE FROM sso_login_codes WHERE code_hash IN (SELECT code_hash FROM sso_login_codes
                     WHERE expires_at < frontline_now() - interval '1 day' LIMIT 5000)",
            ] {
                if let Err(e) = diesel::sql_query(statement).execute(&mut conn).await {
                    tracing::warn!(error = %e, "sso purge failed");
                }
            }
        }
    });
}
