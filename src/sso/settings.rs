//! The organisation's provider (admins): read, set and removed, each change audited in its
//! transaction. Setting it fetches the issuer's discovery document first: an issuer that does
//! not answer as an OpenID provider is refused (`422` naming `issuer`), so a typo cannot lock
//! an organisation out when SSO is required.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reqwest::Url;
use uuid::Uuid;

use super::provider::Providers;
use super::{PutSsoSettings, SsoSettings};
use crate::audit::{self, Action, Actor};
use crate::auth::Role;
use crate::error::{AppError, AppResult, FieldError};
use crate::http::check;
use crate::schema::{members, organisations, sso_break_glass_admins, sso_providers, teams};
use crate::validation;

const MAX_SCOPES: usize = 20;
const MAX_APP_URIS: usize = 20;
const MAX_BREAK_GLASS: usize = 10;
/// Schemes an app redirect URI may never have: they run, read or leave the app.
const FORBIDDEN_SCHEMES: &[&str] = &[
    "javascript",
    "data",
    "file",
    "vbscript",
    "about",
    "blob",
    "ftp",
    "ws",
    "wss",
    "mailto",
    "tel",
];

/// An organisation's provider as stored.
#[derive(Debug, Clone)]
pub struct Stored {
    pub organisation_id: Uuid,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    pub extra_scopes: Vec<String>,
    pub subject_claim: String,
    pub match_email_on_first_login: bool,
    pub jit_team_id: Option<Uuid>,
    pub required: bool,
    pub app_redirect_uris: Vec<String>,
    pub updated_at: DateTime<Utc>,
}

type Row = (
    Uuid,
    String,
    String,
    String,
    Vec<Option<String>>,
    String,
    bool,
    Option<Uuid>,
    bool,
    Vec<Option<String>>,
    DateTime<Utc>,
);

fn stored(r: Row) -> Stored {
    Stored {
        organisation_id: r.0,
        issuer: r.1,
        client_id: r.2,
        client_secret: r.3,
        extra_scopes: r.4.into_iter().flatten().collect(),
        subject_claim: r.5,
        match_email_on_first_login: r.6,
        jit_team_id: r.7,
        required: r.8,
        app_redirect_uris: r.9.into_iter().flatten().collect(),
        updated_at: r.10,
    }
}

macro_rules! columns {
    () => {
        (
            sso_providers::organisation_id,
            sso_providers::issuer,
            sso_providers::client_id,
            sso_providers::client_secret,
            sso_providers::extra_scopes,
            sso_providers::subject_claim,
            sso_providers::match_email_on_first_login,
            sso_providers::jit_team_id,
            sso_providers::required,
            sso_providers::app_redirect_uris,
            sso_providers::updated_at,
        )
    };
}

/// The provider of `org`, if it has one.
pub async fn load(conn: &mut AsyncPgConnection, org: Uuid) -> AppResult<Option<Stored>> {
    let row: Option<Row> = sso_providers::table
        .filter(sso_providers::organisation_id.eq(org))
        .select(columns!())
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(stored))
}

/// The provider of the organisation whose slug is `slug`, if it has one.
pub async fn load_by_slug(conn: &mut AsyncPgConnection, slug: &str) -> AppResult<Option<Stored>> {
    let row: Option<Row> = sso_providers::table
        .inner_join(organisations::table)
        .filter(organisations::slug.eq(slug))
        .select(columns!())
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(stored))
}

/// What admins see of `org`'s provider (`404` when it has none).
pub async fn get(
    conn: &mut AsyncPgConnection,
    providers: &Providers,
    org: Uuid,
) -> AppResult<SsoSettings> {
    let s = load(conn, org).await?.ok_or_else(not_configured)?;
    view(conn, providers, s).await
}

fn not_configured() -> AppError {
    AppError::NotFound("your organisation has no single sign-on".into())
}

async fn view(
    conn: &mut AsyncPgConnection,
    providers: &Providers,
    s: Stored,
) -> AppResult<SsoSettings> {
    let slug: String = organisations::table
        .find(s.organisation_id)
        .select(organisations::slug)
        .first(conn)
        .await?;
    let mut break_glass: Vec<Uuid> = sso_break_glass_admins::table
        .filter(sso_break_glass_admins::organisation_id.eq(s.organisation_id))
        .select(sso_break_glass_admins::member_id)
        .load(conn)
        .await?;
    break_glass.sort();
    let base = providers.public_base().unwrap_or_default();
    Ok(SsoSettings {
        issuer: s.issuer,
        client_id: s.client_id,
        client_secret_set: !s.client_secret.is_empty(),
        extra_scopes: s.extra_scopes,
        subject_claim: s.subject_claim,
        match_email_on_first_login: s.match_email_on_first_login,
        jit_team_id: s.jit_team_id,
        required: s.required,
        break_glass_admins: break_glass,
        app_redirect_uris: s.app_redirect_uris,
        redirect_uri: providers.callback().unwrap_or_default().to_string(),
        start_url: format!("{base}/api/v1/auth/sso/start?organisation={slug}"),
        updated_at: s.updated_at,
    })
}

/// A checked `PUT` (what needs no database), the issuer as its discovery document names it.
pub struct Checked {
    issuer: String,
    client_id: String,
    client_secret: Option<String>,
    extra_scopes: Vec<String>,
    subject_claim: String,
    match_email_on_first_login: bool,
    jit_team_id: Option<Uuid>,
    required: bool,
    break_glass_admins: Vec<Uuid>,
    app_redirect_uris: Vec<String>,
}

impl Checked {
    /// Check every field (one `422` naming each bad one); then fetch the issuer's discovery
    /// document (`422` naming `issuer` when it fails or names another issuer).
    pub async fn parse(req: PutSsoSettings, providers: &Providers) -> AppResult<Checked> {
        if providers.callback().is_none() {
            return Err(AppError::conflict(
                "single sign-on needs the server's public_base_url (the provider's redirect URI is under it); ask whoever runs this server to set it",
            ));
        }
        let mut errors = Vec::new();
        let issuer = validation::text("issuer", &req.issuer, 500, &mut errors);
        let client_id = validation::text("client_id", &req.client_id, 500, &mut errors);
        let client_secret = req
            .client_secret
            .as_deref()
            .map(|s| validation::text("client_secret", s, 1000, &mut errors));
        let extra_scopes = scopes(&req.extra_scopes, &mut errors);
        let subject_claim = subject_claim(req.subject_claim.as_deref(), &mut errors);
        let require_https = providers.require_https();
        let app_redirect_uris = app_uris(&req.app_redirect_uris, require_https, &mut errors);
        let mut break_glass_admins = req.break_glass_admins.clone();
        break_glass_admins.sort();
        break_glass_admins.dedup();
        if break_glass_admins.len() > MAX_BREAK_GLASS {
            errors.push(FieldError::new(
                "break_glass_admins",
                format!("name at most {MAX_BREAK_GLASS} admins"),
            ));
        } else if req.required && break_glass_admins.is_empty() {
            errors.push(FieldError::new(
                "break_glass_admins",
                "name at least one admin who may still sign in with a password while single sign-on is required (for when the provider fails)",
            ));
        }
        let mut discovered = None;
        if !errors.iter().any(|e| e.field == "issuer") {
            match providers.discover_now(&issuer).await {
                Ok(doc) => discovered = Some(doc.issuer.clone()),
                Err(why) => errors.push(FieldError::new(
                    "issuer",
                    format!("is not an OpenID provider this server can use: {why}"),
                )),
            }
        }
        check(errors)?;
        Ok(Checked {
            issuer: discovered.unwrap_or(issuer),
            client_id,
            client_secret,
            extra_scopes,
            subject_claim,
            match_email_on_first_login: req.match_email_on_first_login,
            jit_team_id: req.jit_team_id,
            required: req.required,
            break_glass_admins,
            app_redirect_uris,
        })
    }
}

fn scopes(raw: &[String], errors: &mut Vec<FieldError>) -> Vec<String> {
    if raw.len() > MAX_SCOPES {
        errors.push(FieldError::new(
            "extra_scopes",
            format!("at most {MAX_SCOPES} scopes"),
        ));
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for (i, scope) in raw.iter().enumerate() {
        let scope = scope.trim();
        // RFC 6749, 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
        let token = (1..=64).contains(&scope.len())
            && scope
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
        if !token {
            errors.push(FieldError::new(
                format!("extra_scopes[{i}]"),
                "must be 1-64 printable ASCII characters without spaces, quotes or backslashes",
            ));
        } else if !["openid", "email", "profile"].contains(&scope)
            && !out.iter().any(|s| s == scope)
        {
            out.push(scope.to_string());
        }
    }
    out
}

fn subject_claim(raw: Option<&str>, errors: &mut Vec<FieldError>) -> String {
    let claim = raw.map(str::trim).unwrap_or("sub");
    let valid = (1..=64).contains(&claim.len())
        && claim
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    if !valid {
        errors.push(FieldError::new(
            "subject_claim",
            "must be a claim name such as sub or oid (1-64 letters, digits, _ . : -)",
        ));
    }
    claim.to_string()
}

/// The app URIs a sign-in may return to: `https`, `http` only on loopback (or where the
/// server allows plain http), or an app's own scheme; never one that runs or reads something.
fn app_uris(raw: &[String], require_https: bool, errors: &mut Vec<FieldError>) -> Vec<String> {
    if raw.is_empty() || raw.len() > MAX_APP_URIS {
        errors.push(FieldError::new(
            "app_redirect_uris",
            format!("give 1 to {MAX_APP_URIS} URIs of your apps (where a sign-in returns to)"),
        ));
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for (i, uri) in raw.iter().enumerate() {
        let uri = uri.trim();
        match app_uri(uri, require_https) {
            Ok(()) if !out.iter().any(|u| u == uri) => out.push(uri.to_string()),
            Ok(()) => {}
            Err(why) => errors.push(FieldError::new(format!("app_redirect_uris[{i}]"), why)),
        }
    }
    out
}

fn app_uri(uri: &str, require_https: bool) -> Result<(), &'static str> {
    if uri.is_empty()
        || uri.chars().count() > 500
        || uri.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err("must be an absolute URI of at most 500 characters, without spaces");
    }
    let url = Url::parse(uri).map_err(|_| "must be an absolute URI (https://..., or your app's scheme such as com.example.app:/sso)")?;
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a fragment or credentials");
    }
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
    match url.scheme() {
        "https" if url.host_str().is_some() => Ok(()),
        "http" if url.host_str().is_some() && (loopback || !require_https) => Ok(()),
        "http" | "https" => {
            Err("http is allowed on loopback only (127.0.0.1, [::1], localhost); use https")
        }
        scheme if FORBIDDEN_SCHEMES.contains(&scheme) => Err("must not use that scheme"),
        _ => Ok(()),
    }
}

/// Set `org`'s provider (admin `by`), audited: `404` for a team of another organisation,
/// `422` for a break-glass admin who is not an active admin here or a missing first secret.
pub async fn put(
    conn: &mut AsyncPgConnection,
    providers: &Providers,
    org: Uuid,
    by: Uuid,
    new: Checked,
) -> AppResult<SsoSettings> {
    conn.transaction::<_, AppError, _>(async move |conn| {
        let existing = sso_providers::table
            .filter(sso_providers::organisation_id.eq(org))
            .select(sso_providers::client_secret)
            .for_update()
            .first::<String>(conn)
            .await
            .optional()?;
        if let Some(team) = new.jit_team_id {
            team_is_open(conn, org, team).await?;
        }
        admins_only(conn, org, &new.break_glass_admins).await?;
        let secret_changed = new.client_secret.is_some();
        let Some(secret) = new.client_secret.clone().or(existing.clone()) else {
            return Err(AppError::invalid(
                "client_secret",
                "is required when single sign-on is first set up",
            ));
        };
        let to_array = |v: &[String]| v.iter().cloned().map(Some).collect::<Vec<Option<String>>>();
        let values = (
            sso_providers::issuer.eq(&new.issuer),
            sso_providers::client_id.eq(&new.client_id),
            sso_providers::client_secret.eq(&secret),
            sso_providers::extra_scopes.eq(to_array(&new.extra_scopes)),
            sso_providers::subject_claim.eq(&new.subject_claim),
            sso_providers::match_email_on_first_login.eq(new.match_email_on_first_login),
            sso_providers::jit_team_id.eq(new.jit_team_id),
            sso_providers::required.eq(new.required),
            sso_providers::app_redirect_uris.eq(to_array(&new.app_redirect_uris)),
            sso_providers::updated_at.eq(crate::sql::frontline_now()),
        );
        diesel::insert_into(sso_providers::table)
            .values((sso_providers::organisation_id.eq(org), values.clone()))
            .on_conflict(sso_providers::organisation_id)
            .do_update()
            .set(values)
            .execute(conn)
            .await?;
        diesel::delete(
            sso_break_glass_admins::table.filter(sso_break_glass_admins::organisation_id.eq(org)),
        )
        .execute(conn)
        .await?;
        let rows: Vec<_> = new
            .break_glass_admins
            .iter()
            .map(|m| {
                (
                    sso_break_glass_admins::organisation_id.eq(org),
                    sso_break_glass_admins::member_id.eq(*m),
                )
            })
            .collect();
        diesel::insert_into(sso_break_glass_admins::table)
            .values(rows)
            .execute(conn)
            .await?;
        audit::record(
            conn,
            org,
            Actor::Member(by),
            Action::SsoConfigured,
            None,
            serde_json::json!({
                "created": existing.is_none(),
                "issuer": new.issuer,
                "client_id": new.client_id,
                "client_secret_changed": secret_changed,
                "extra_scopes": new.extra_scopes,
                "subject_claim": new.subject_claim,
                "match_email_on_first_login": new.match_email_on_first_login,
                "jit_team_id": new.jit_team_id,
                "required": new.required,
                "break_glass_admins": new.break_glass_admins,
                "app_redirect_uris": new.app_redirect_uris,
            }),
        )
        .await?;
        let s = load(conn, org).await?.ok_or_else(not_configured)?;
        view(conn, providers, s).await
    })
    .await
}

/// The just-in-time team must be a live team of this organisation: another's is `404`.
async fn team_is_open(conn: &mut AsyncPgConnection, org: Uuid, team: Uuid) -> AppResult<()> {
    let archived: Option<Option<DateTime<Utc>>> = teams::table
        .filter(teams::organisation_id.eq(org))
        .filter(teams::id.eq(team))
        .select(teams::archived_at)
        .first(conn)
        .await
        .optional()?;
    match archived {
        None => Err(AppError::not_found("team")),
        Some(Some(_)) => Err(AppError::invalid(
            "jit_team_id",
            "is an archived team; choose a live one",
        )),
        Some(None) => Ok(()),
    }
}

/// Every break-glass admin must be an active admin of this organisation.
async fn admins_only(conn: &mut AsyncPgConnection, org: Uuid, ids: &[Uuid]) -> AppResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let admins: Vec<Uuid> = members::table
        .filter(members::organisation_id.eq(org))
        .filter(members::id.eq_any(ids))
        .filter(members::role.eq(Role::Admin.as_str()))
        .filter(members::deactivated_at.is_null())
        .select(members::id)
        .load(conn)
        .await?;
    let errors: Vec<FieldError> = ids
        .iter()
        .enumerate()
        .filter(|(_, id)| !admins.contains(id))
        .map(|(i, _)| {
            FieldError::new(
                format!("break_glass_admins[{i}]"),
                "is not an active admin of your organisation",
            )
        })
        .collect();
    check(errors)
}

/// Remove `org`'s provider (admin `by`), audited; members keep their subjects, so setting it up
/// again with the same provider finds them.
pub async fn delete(conn: &mut AsyncPgConnection, org: Uuid, by: Uuid) -> AppResult<()> {
    conn.transaction::<_, AppError, _>(async move |conn| {
        let removed =
            diesel::delete(sso_providers::table.filter(sso_providers::organisation_id.eq(org)))
                .execute(conn)
                .await?;
        if removed == 0 {
            return Err(not_configured());
        }
        audit::record(
            conn,
            org,
            Actor::Member(by),
            Action::SsoRemoved,
            None,
            serde_json::json!({}),
        )
        .await
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_redirect_uris_are_https_loopback_http_or_an_apps_own_scheme() {
        for good in [
            "https://app.example/sso",
            "frontline://sso",
            "com.example.app:/oauth2redirect",
            "http://127.0.0.1:8765/cb",
            "http://localhost/cb",
            "http://[::1]:9/cb",
        ] {
            assert_eq!(app_uri(good, true), Ok(()), "{good}");
        }
        for bad in [
            "",
            "/relative",
            "javascript:alert(1)",
            "data:text/html,x",
            "file:///etc/passwd",
            "http://app.example/sso",
            "https://app.example/sso#frag",
            "https://user:pw@app.example/",
            "https://app.example/a b",
        ] {
            assert!(app_uri(bad, true).is_err(), "{bad}");
        }
        assert_eq!(app_uri("http://app.example/sso", false), Ok(()));
    }

    #[test]
    fn scopes_are_tokens_and_the_standard_ones_are_implied() {
        let mut errors = Vec::new();
        let got = scopes(
            &[
                "offline_access".into(),
                "openid".into(),
                "groups".into(),
                "groups".into(),
            ],
            &mut errors,
        );
        assert!(errors.is_empty());
        assert_eq!(
            got,
            vec!["offline_access".to_string(), "groups".to_string()]
        );
        scopes(&["has space".into(), "quo\"te".into()], &mut errors);
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].field, "extra_scopes[0]");
    }
}
