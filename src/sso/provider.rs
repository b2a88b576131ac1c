//! What this server knows of an organisation's OpenID provider: its discovery document
//! (`/.well-known/openid-configuration`, cached an hour), the HTTP client every call to it goes
//! through and the callback URL registered there.
//!
//! The issuer is an address an admin typed, so every call to it is SSRF-relevant: it goes
//! through `outbound`'s client (the refused address ranges and `webhook_allowed_networks`, no
//! redirects, no proxy), with a 5 s timeout and each answer read up to a cap. Caches are a
//! process's own (a miss only costs a fetch); flow state is not: it is in PostgreSQL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Url;
use serde_json::Value;

use super::CALLBACK_PATH;
use super::keys::KeySet;
use crate::clock::Clock;
use crate::config::{ConfigError, Settings};
use crate::outbound::{Client, Policy};

/// How long a discovery document is used before it is fetched again.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// The longest any call to a provider may take.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The largest discovery document read (real ones are a few KiB).
const DISCOVERY_CAP: usize = 64 * 1024;
/// Providers cached at once; past it the cache starts again (a miss only costs a fetch).
const MAX_CACHED: usize = 1024;

/// What the flow needs of a provider's discovery document, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// The document's `issuer`: what ID tokens' `iss` must equal.
    pub issuer: String,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    pub jwks_uri: Url,
    /// The client authenticates at the token endpoint with its secret in the form body
    /// (`client_secret_post`), because the provider does not list `client_secret_basic`.
    pub secret_in_body: bool,
}

/// One provider's cached documents.
#[derive(Default)]
pub struct Cached {
    discovery: tokio::sync::Mutex<Option<(Arc<Discovery>, Instant)>>,
    /// Its signing keys (`keys`).
    pub keys: tokio::sync::Mutex<KeySet>,
}

/// The providers of every organisation, as Rocket state.
pub struct Providers {
    pub client: Client,
    /// Cache lifetimes and the keys' refetch interval go by the service's clock.
    pub clock: Clock,
    require_https: bool,
    callback: Option<String>,
    cache: Mutex<HashMap<String, Arc<Cached>>>,
}

impl Providers {
    /// `public_base` is the checked `public_base_url` (none: single sign-on cannot be set up,
    /// as no callback URL can be registered).
    pub fn new(
        settings: &Settings,
        public_base: Option<&str>,
        clock: Clock,
    ) -> Result<Providers, ConfigError> {
        let policy = Policy::from_settings(settings)?;
        let require_https = policy.require_https;
        let user_agent = concat!("Frontline-SSO/", env!("CARGO_PKG_VERSION"));
        let client = Client::new(policy, TIMEOUT, user_agent).map_err(ConfigError::Webhooks)?;
        Ok(Providers {
            client,
            clock,
            require_https,
            callback: public_base.map(|base| format!("{base}{CALLBACK_PATH}")),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The redirect URI every provider is registered with, if this server has a public URL.
    pub fn callback(&self) -> Option<&str> {
        self.callback.as_deref()
    }

    /// `public_base_url` (the callback's origin), if set.
    pub fn public_base(&self) -> Option<&str> {
        self.callback
            .as_deref()
            .and_then(|c| c.strip_suffix(CALLBACK_PATH))
    }

    pub fn require_https(&self) -> bool {
        self.require_https
    }

    /// The cache of `issuer` (made on first use).
    pub fn cached(&self, issuer: &str) -> Arc<Cached> {
        let Ok(mut map) = self.cache.lock() else {
            return Arc::new(Cached::default());
        };
        if map.len() >= MAX_CACHED && !map.contains_key(issuer) {
            map.clear();
        }
        Arc::clone(map.entry(issuer.to_string()).or_default())
    }

    /// The discovery document of `issuer`, from the cache while it is fresh.
    pub async fn discovery(&self, issuer: &str) -> Result<Arc<Discovery>, String> {
        let cached = self.cached(issuer);
        let mut slot = cached.discovery.lock().await;
        let now = self.clock.instant();
        if let Some((doc, at)) = slot.as_ref()
            && now.saturating_duration_since(*at) < DISCOVERY_TTL
        {
            return Ok(Arc::clone(doc));
        }
        let doc = Arc::new(self.fetch_discovery(issuer).await?);
        *slot = Some((Arc::clone(&doc), now));
        Ok(doc)
    }

    /// The discovery document fetched now (an admin saving settings), replacing the cached one
    /// of its issuer.
    pub async fn discover_now(&self, issuer: &str) -> Result<Arc<Discovery>, String> {
        let doc = Arc::new(self.fetch_discovery(issuer).await?);
        let cached = self.cached(&doc.issuer);
        *cached.discovery.lock().await = Some((Arc::clone(&doc), self.clock.instant()));
        Ok(doc)
    }

    async fn fetch_discovery(&self, issuer: &str) -> Result<Discovery, String> {
        let url = discovery_url(issuer, self.require_https)?;
        let fetched = self
            .client
            .get(&url, "application/json", DISCOVERY_CAP)
            .await
            .map_err(|e| format!("its discovery document could not be fetched: {e}"))?;
        if fetched.status != 200 {
            return Err(format!(
                "its discovery document ({url}) answered HTTP {}",
                fetched.status
            ));
        }
        let doc: Value = serde_json::from_slice(&fetched.body)
            .map_err(|_| "its discovery document is not JSON".to_string())?;
        parse_discovery(&doc, issuer, self.require_https)
    }
}

/// `{issuer}/.well-known/openid-configuration`, for an `https` issuer (or `http` where the
/// server allows it) with no query, fragment or credentials.
fn discovery_url(issuer: &str, require_https: bool) -> Result<Url, String> {
    let url = endpoint(issuer, require_https).map_err(|e| format!("the issuer {e}"))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err("the issuer must not have a query or fragment".into());
    }
    let base = issuer.trim().trim_end_matches('/');
    Url::parse(&format!("{base}/.well-known/openid-configuration"))
        .map_err(|_| "the issuer is not a URL".to_string())
}

/// An absolute `https` URL (`http` where allowed) without credentials.
fn endpoint(text: &str, require_https: bool) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|_| "is not an absolute URL".to_string())?;
    match url.scheme() {
        "https" => {}
        "http" if !require_https => {}
        "http" => return Err("must use https".into()),
        _ => return Err("is not an http(s) URL".into()),
    }
    if url.host_str().is_none() || !url.username().is_empty() || url.password().is_some() {
        return Err("must name a host and carry no credentials".into());
    }
    Ok(url)
}

/// Check a discovery document fetched for `issuer`: it must name that issuer (OpenID Connect
/// Discovery 1.0, 4.3; a trailing `/` aside), offer the code flow and PKCE with S256 when it
/// says what it offers, and let the client authenticate with its secret.
pub fn parse_discovery(
    doc: &Value,
    issuer: &str,
    require_https: bool,
) -> Result<Discovery, String> {
    let text = |name: &str| {
        doc.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("its discovery document has no {name}"))
    };
    let named = text("issuer")?;
    if named.trim_end_matches('/') != issuer.trim().trim_end_matches('/') {
        return Err(format!(
            "its discovery document names another issuer ({named:?}); use that"
        ));
    }
    let url = |name: &str| {
        endpoint(text(name)?, require_https)
            .map_err(|e| format!("its discovery document's {name} {e}"))
    };
    let offers = |name: &str, value: &str| {
        doc.get(name)
            .and_then(Value::as_array)
            .map(|list| list.iter().any(|v| v.as_str() == Some(value)))
    };
    if offers("response_types_supported", "code") == Some(false) {
        return Err("the provider does not offer the authorization code flow".into());
    }
    if offers("code_challenge_methods_supported", "S256") == Some(false) {
        return Err("the provider does not offer PKCE with S256".into());
    }
    let methods = "token_endpoint_auth_methods_supported";
    let secret_in_body = match (
        offers(methods, "client_secret_basic"),
        offers(methods, "client_secret_post"),
    ) {
        // Absent, the default is client_secret_basic (Discovery 1.0, 3).
        (None, _) | (Some(true), _) => false,
        (Some(false), Some(true)) => true,
        (Some(false), _) => {
            return Err("the provider takes no client secret at its token endpoint".into());
        }
    };
    Ok(Discovery {
        issuer: named.to_string(),
        authorization_endpoint: url("authorization_endpoint")?,
        token_endpoint: url("token_endpoint")?,
        jwks_uri: url("jwks_uri")?,
        secret_in_body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "issuer": "https://login.example.com/tenant/v2.0",
            "authorization_endpoint": "https://login.example.com/tenant/oauth2/v2.0/authorize",
            "token_endpoint": "https://login.example.com/tenant/oauth2/v2.0/token",
            "jwks_uri": "https://login.example.com/tenant/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        })
    }

    #[test]
    fn a_discovery_document_must_name_its_issuer_and_offer_the_code_flow() {
        let issuer = "https://login.example.com/tenant/v2.0";
        let parsed = parse_discovery(&doc(), issuer, true);
        assert_eq!(parsed.as_ref().map(|d| d.secret_in_body), Ok(false));
        // A trailing slash on either side is the same issuer; the document's spelling wins.
        assert!(parse_discovery(&doc(), &format!("{issuer}/"), true).is_ok());

        let mut other = doc();
        other["issuer"] = json!("https://evil.example.com/");
        assert!(parse_discovery(&other, issuer, true).is_err_and(|e| e.contains("another")));

        let mut plain = doc();
        plain["token_endpoint"] = json!("http://login.example.com/token");
        assert!(parse_discovery(&plain, issuer, true).is_err());
        assert!(parse_discovery(&plain, issuer, false).is_ok());

        let mut no_pkce = doc();
        no_pkce["code_challenge_methods_supported"] = json!(["plain"]);
        assert!(parse_discovery(&no_pkce, issuer, true).is_err_and(|e| e.contains("PKCE")));

        let mut post_only = doc();
        post_only["token_endpoint_auth_methods_supported"] = json!(["client_secret_post"]);
        assert_eq!(
            parse_discovery(&post_only, issuer, true).map(|d| d.secret_in_body),
            Ok(true)
        );
        let mut no_secret = doc();
        no_secret["token_endpoint_auth_methods_supported"] = json!(["private_key_jwt"]);
        assert!(parse_discovery(&no_secret, issuer, true).is_err());

        let mut missing = doc();
        missing.as_object_mut().map(|m| m.remove("jwks_uri"));
        assert!(parse_discovery(&missing, issuer, true).is_err_and(|e| e.contains("jwks_uri")));
    }

    #[test]
    fn the_issuer_is_an_https_url_without_query_or_credentials() {
        assert!(
            discovery_url("https://accounts.google.com", true)
                .is_ok_and(|u| u.as_str()
                    == "https://accounts.google.com/.well-known/openid-configuration")
        );
        assert!(discovery_url("https://x.auth0.com/", true).is_ok_and(|u| u.as_str()
            == "https://x.auth0.com/.well-known/openid-configuration"));
        for bad in [
            "accounts.google.com",
            "http://accounts.google.com",
            "https://u:p@idp.example.com",
            "https://idp.example.com/?tenant=x",
            "ftp://idp.example.com",
        ] {
            assert!(discovery_url(bad, true).is_err(), "{bad}");
        }
        assert!(discovery_url("http://127.0.0.1:9400", false).is_ok());
    }
}
