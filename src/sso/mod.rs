//! Single sign-on with OpenID Connect: an organisation signs its members in through its own
//! identity provider (Entra ID, Okta, Google, ...), and the API then issues its own tokens, as
//! after a password login. docs/sign-in.md explains the settings and the set-up.
//!
//! - `settings`: the organisation's provider (`GET`/`PUT`/`DELETE /organisation/sso`, admins):
//!   checked against the provider's discovery document when saved, audited.
//! - `provider`: what this server knows of a provider: discovery (cached), the HTTP client
//!   (`outbound`'s SSRF guard, bounded), the callback URL it registers.
//! - `keys`: the provider's signing keys (JWKS), cached per issuer; an unknown key id fetches
//!   them again, at most once per 30 s per provider.
//! - `id_token`: what an ID token must say (`iss`, `aud`, `azp`, `exp`, `iat`, `nonce`) and the
//!   identity read from it.
//! - `flow`: start (state, nonce and PKCE verifier in a row of `sso_flows`, so any server
//!   process may take the callback), callback (code for tokens, the ID token checked, the
//!   member found) and the app's one-time code, exchanged for tokens once.
//! - `matching`: who an identity is: by subject, by email on a first sign-in where allowed,
//!   or a new employee (just-in-time) where the organisation names a team.
//! - `routes`: the HTTP edge.
//!
//! Whether a password may still sign in is `auth::sso_policy`'s question (the auth layer asks
//! it); its answer comes from the tables this area writes.

pub mod flow;
pub mod id_token;
pub mod keys;
pub mod matching;
pub mod provider;
pub mod routes;
pub mod settings;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::vocabulary::vocabulary;

pub use provider::Providers;
pub use routes::SsoApi;

/// The path of the callback every provider redirects to (under `public_base_url`).
pub const CALLBACK_PATH: &str = "/api/v1/auth/sso/callback";

/// The organisation's provider, as admins see it (the client secret never leaves).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SsoSettings {
    /// The provider's issuer, as its discovery document names it.
    pub issuer: String,
    pub client_id: String,
    /// A client secret is stored (it is never shown).
    pub client_secret_set: bool,
    /// Scopes asked for besides `openid email profile`.
    pub extra_scopes: Vec<String>,
    /// The ID token claim that names a person for good: `sub` (Entra ID: `oid`).
    pub subject_claim: String,
    /// A first sign-in whose subject no member holds may find its member by a verified email.
    pub match_email_on_first_login: bool,
    /// Someone the provider vouches for but no member matches becomes an employee in this
    /// team; `null`: they are refused.
    pub jit_team_id: Option<Uuid>,
    /// Password and PIN sign-in are refused for everyone but `break_glass_admins`.
    pub required: bool,
    /// Admins who may still sign in with their password while SSO is required.
    pub break_glass_admins: Vec<Uuid>,
    /// The app URIs a sign-in may return to (exact match).
    pub app_redirect_uris: Vec<String>,
    /// What to register at the provider as the redirect (reply) URI.
    pub redirect_uri: String,
    /// Where an app sends a browser to sign in (add `redirect_uri` and, if it likes, `state`).
    pub start_url: String,
    pub updated_at: DateTime<Utc>,
}

/// The organisation's provider, as an admin sets it (every field but the secret replaces
/// what was there).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSsoSettings {
    /// The issuer URL, e.g. `https://login.microsoftonline.com/<tenant id>/v2.0`; its
    /// `/.well-known/openid-configuration` is fetched to check it.
    pub issuer: String,
    pub client_id: String,
    /// Required the first time; left out, the stored one stays. Never shown again.
    pub client_secret: Option<String>,
    /// Scopes to ask for besides `openid email profile` (at most 20).
    #[serde(default)]
    pub extra_scopes: Vec<String>,
    /// Default `sub`.
    pub subject_claim: Option<String>,
    #[serde(default)]
    pub match_email_on_first_login: bool,
    pub jit_team_id: Option<Uuid>,
    #[serde(default)]
    pub required: bool,
    /// Members who must be admins of this organisation (at most 10); at least one when
    /// `required`.
    #[serde(default)]
    pub break_glass_admins: Vec<Uuid>,
    /// 1 to 20 URIs: `https://...`, an app's own scheme (`com.example.app:/sso`,
    /// `frontline://sso`), or `http://` on loopback.
    pub app_redirect_uris: Vec<String>,
}

vocabulary!(
    /// Why a sign-in came back to the app without a code (`?error=`).
    SsoError {
        /// The person declined, or the provider refused them.
        AccessDenied = "access_denied",
        /// The provider could not be reached, or answered with an error.
        ProviderError = "provider_error",
        /// The provider's ID token did not pass the checks.
        InvalidToken = "invalid_token",
        /// Nobody in the organisation matches, and nobody may be created.
        NoAccount = "no_account",
        /// The member is deactivated.
        AccountDisabled = "account_disabled",
        /// The organisation no longer uses single sign-on.
        SsoNotConfigured = "sso_not_configured",
        /// Something went wrong on our side.
        ServerError = "server_error",
    }
);

/// What the app sends to exchange its one-time code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SsoExchange {
    /// The `code` the sign-in returned to the app with (single-use, a minute).
    pub code: String,
}
