//! Calls to addresses an admin chose: webhook receivers and an organisation's OpenID provider.
//! They are server-side request forgery's way in, so every one goes through the same guard:
//! where a call may go (`ssrf`: the refused ranges, `Network`) and the HTTP client whose
//! resolver keeps to it, with no redirects, no proxy and answers read up to a cap (`client`).
//! The server's `webhook_allowed_networks` and `webhook_require_https` settings make the
//! [`Policy`] both uses share.

pub mod client;
pub mod ssrf;

pub use client::{Client, Fetched, Policy, Refused};
pub use ssrf::Network;

use crate::config::{ConfigError, Settings};

impl Policy {
    /// The policy the settings give; refuses a network that does not parse.
    pub fn from_settings(s: &Settings) -> Result<Policy, ConfigError> {
        let mut allowed = Vec::new();
        for text in &s.webhook_allowed_networks {
            match Network::parse(text) {
                Some(n) => allowed.push(n),
                None => {
                    return Err(ConfigError::Webhooks(format!(
                        "webhook_allowed_networks: {text:?} is not a network (CIDR, e.g. 10.0.0.0/8)"
                    )));
                }
            }
        }
        Ok(Policy {
            allowed,
            require_https: s.webhook_require_https,
        })
    }
}
