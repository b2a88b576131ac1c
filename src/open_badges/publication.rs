//! `public_base_url`: where the public documents live, and the URL of each.

use uuid::Uuid;

use crate::config::ConfigError;

/// The JSON-LD context of every Open Badges 2.0 document.
pub const CONTEXT: &str = "https://w3id.org/openbadges/v2";

/// Where the public documents live: `public_base_url`, checked at start. Without it nothing
/// is published (the public routes answer 404, views carry no URLs).
#[derive(Debug, Clone)]
pub struct Publication {
    base: Option<String>,
}

impl Publication {
    /// `raw` must be an absolute `http(s)` URL of an origin (a path prefix is allowed, for a
    /// service behind a proxy under a sub-path); a trailing `/` is dropped.
    pub fn new(raw: Option<&str>) -> Result<Publication, ConfigError> {
        let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
            return Ok(Publication { base: None });
        };
        let rest = raw
            .strip_prefix("https://")
            .or_else(|| raw.strip_prefix("http://"))
            .ok_or_else(|| {
                ConfigError::PublicBaseUrl("must start with https:// or http://".into())
            })?;
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty()
            || host.contains('@')
            || raw.contains(['?', '#'])
            || raw.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ConfigError::PublicBaseUrl(
                "must be a URL such as https://frontline.example.com (a host, no query, fragment or credentials)".into(),
            ));
        }
        Ok(Publication {
            base: Some(raw.trim_end_matches('/').to_string()),
        })
    }

    /// The URLs, if documents are published.
    pub fn urls(&self) -> Option<Urls<'_>> {
        self.base.as_deref().map(Urls)
    }
}

/// The public URL of each document.
#[derive(Debug, Clone, Copy)]
pub struct Urls<'a>(pub &'a str);

impl Urls<'_> {
    pub fn base(&self) -> &str {
        self.0
    }
    pub fn issuer(&self, org: Uuid) -> String {
        format!("{}/ob/v2/issuers/{org}", self.0)
    }
    pub fn revocations(&self, org: Uuid) -> String {
        format!("{}/ob/v2/issuers/{org}/revocations", self.0)
    }
    pub fn badge(&self, badge: Uuid) -> String {
        format!("{}/ob/v2/badges/{badge}", self.0)
    }
    pub fn image(&self, badge: Uuid) -> String {
        format!("{}/ob/v2/badges/{badge}/image", self.0)
    }
    pub fn assertion(&self, assertion: Uuid) -> String {
        format!("{}{assertion}", self.assertions())
    }
    /// What every assertion's URL starts with (its id follows).
    pub fn assertions(&self) -> String {
        format!("{}/ob/v2/assertions/", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_url_is_an_http_origin_without_its_trailing_slash() {
        let p = Publication::new(Some("https://frontline.example.com/")).unwrap();
        assert_eq!(p.urls().unwrap().base(), "https://frontline.example.com");
        assert!(Publication::new(None).unwrap().urls().is_none());
        assert!(Publication::new(Some("  ")).unwrap().urls().is_none());
        for bad in [
            "frontline.example.com",
            "ftp://x.example.com",
            "https://",
            "https://a.example.com/?x=1",
            "https://user@a.example.com",
            "https://a.example.com/#top",
            "https://a example.com",
        ] {
            assert!(Publication::new(Some(bad)).is_err(), "{bad}");
        }
    }
}
