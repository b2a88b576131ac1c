//! The HTTP client every call to an address an admin chose goes out through (webhook
//! deliveries, an organisation's OpenID provider). Its resolver is the SSRF guard: it looks a
//! host up, keeps only the addresses [`ssrf::permitted`] allows and hands the connection
//! exactly those, so the address checked is the address connected to (no window for a DNS
//! answer to change in between). A URL naming an IP address skips resolvers: every request
//! checks it itself. Redirects are not followed (for webhooks a `3xx` is a failed delivery, as
//! the Standard Webhooks specification says; an identity provider's discovery, keys and token
//! endpoint answer directly) and no proxy from the environment is used. Every answer is read
//! up to a cap: a hostile server cannot make us hold more.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{Url, redirect};

use super::ssrf::{self, Network};

/// Why a URL may not be used, or a delivery could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the URL is not an absolute http(s) URL")]
    NotAUrl,
    #[error("the URL must use https")]
    NotHttps,
    #[error("the URL must not carry a user name or password")]
    Credentials,
    #[error("the host does not resolve")]
    Unresolved,
    #[error(
        "the host resolves to an address this service may not reach (loopback, private, link-local or reserved)"
    )]
    Forbidden,
}

/// What the URL check needs of the server's configuration.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Networks that may be reached even though they are private (tests: loopback).
    pub allowed: Vec<Network>,
    /// Plain `http` is accepted only when this is false (tests, development).
    pub require_https: bool,
}

impl Policy {
    /// Parse and check a URL an admin gives, resolving its host now: the form of the answer
    /// for registration (`422` naming `url`). Deliveries check again as they connect.
    pub async fn check(&self, text: &str) -> Result<Url, Refused> {
        let url = Url::parse(text.trim()).map_err(|_| Refused::NotAUrl)?;
        match url.scheme() {
            "https" => {}
            "http" if !self.require_https => {}
            "http" => return Err(Refused::NotHttps),
            _ => return Err(Refused::NotAUrl),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refused::Credentials);
        }
        let host = url.host_str().ok_or(Refused::NotAUrl)?;
        // A name that does not answer in a few seconds is refused rather than held.
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs = tokio::time::timeout(Duration::from_secs(3), self.lookup(host, port))
            .await
            .map_err(|_| Refused::Unresolved)??;
        if addrs.is_empty() {
            return Err(Refused::Forbidden);
        }
        Ok(url)
    }

    /// The permitted addresses of `host` (an empty list when it resolves only to forbidden
    /// ones).
    async fn lookup(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Refused> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(if ssrf::permitted(ip, &self.allowed) {
                vec![SocketAddr::new(ip, port)]
            } else {
                Vec::new()
            });
        }
        let found = tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| Refused::Unresolved)?;
        Ok(found
            .filter(|a| ssrf::permitted(a.ip(), &self.allowed))
            .collect())
    }
}

/// The resolver deliveries connect through.
struct Guarded(Arc<Policy>);

impl Resolve for Guarded {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.0);
        Box::pin(async move {
            let addrs = policy.lookup(name.as_str(), 0).await?;
            if addrs.is_empty() {
                return Err(
                    Box::new(Refused::Forbidden) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The answer of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// `Retry-After` in seconds, when the receiver sent one.
    pub retry_after: Option<u64>,
    /// The start of the body, for the delivery log.
    pub excerpt: String,
}

/// The start of a receiver's answer kept in the delivery log.
const EXCERPT_BYTES: usize = 512;

/// A whole answer of [`Client::get`] or [`Client::post_form`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub status: u16,
    pub body: Vec<u8>,
}

/// One client per use (webhook deliveries, identity providers) and process; it pools
/// connections per host.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    policy: Arc<Policy>,
}

impl Client {
    /// A client whose requests end after `timeout`, saying `user_agent`.
    pub fn new(policy: Policy, timeout: Duration, user_agent: &str) -> Result<Client, String> {
        // rustls needs one process-wide crypto provider; a second install is refused, harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let policy = Arc::new(policy);
        let http = reqwest::Client::builder()
            .dns_resolver(Arc::new(Guarded(Arc::clone(&policy))))
            .redirect(redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(5).min(timeout))
            .timeout(timeout)
            .pool_max_idle_per_host(16)
            .user_agent(user_agent)
            .build()
            .map_err(|e| format!("cannot build the HTTP client {user_agent}: {e}"))?;
        Ok(Client { http, policy })
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// POST `body` to `url` with `headers`. `Err` when nothing was answered (refused target,
    /// connection or timeout), with a reason fit for the delivery log.
    pub async fn post(
        &self,
        url: &Url,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<Answer, String> {
        self.literal_permitted(url)?;
        let mut request = self
            .http
            .post(url.clone())
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.map_err(describe)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let mut excerpt = Vec::new();
        let mut response = response;
        while excerpt.len() < EXCERPT_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
                _ => break,
            }
        }
        excerpt.truncate(EXCERPT_BYTES);
        let excerpt = String::from_utf8_lossy(&excerpt)
            .chars()
            .filter(|c| !c.is_control() || *c == '\n')
            .collect();
        Ok(Answer {
            status,
            retry_after,
            excerpt,
        })
    }

    /// A URL naming an IP address does not pass through the resolver: checked here.
    fn literal_permitted(&self, url: &Url) -> Result<(), String> {
        if let Some(host) = url.host_str() {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            if let Ok(ip) = bare.parse::<IpAddr>()
                && !ssrf::permitted(ip, &self.policy.allowed)
            {
                return Err(Refused::Forbidden.to_string());
            }
        }
        Ok(())
    }

    /// GET `url` (its scheme checked against the policy), reading at most `cap` bytes of the
    /// answer: more is an error.
    pub async fn get(&self, url: &Url, accept: &str, cap: usize) -> Result<Fetched, String> {
        self.scheme_permitted(url)?;
        self.literal_permitted(url)?;
        let response = self
            .http
            .get(url.clone())
            .header("accept", accept)
            .send()
            .await
            .map_err(describe)?;
        read_capped(response, cap).await
    }

    /// POST `form` (`application/x-www-form-urlencoded`) to `url`, with HTTP Basic credentials
    /// when given, reading at most `cap` bytes of the answer.
    pub async fn post_form(
        &self,
        url: &Url,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
        cap: usize,
    ) -> Result<Fetched, String> {
        self.scheme_permitted(url)?;
        self.literal_permitted(url)?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut request = self
            .http
            .post(url.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body);
        if let Some((user, password)) = basic {
            request = request.header("authorization", basic_authorization(user, password));
        }
        let response = request.send().await.map_err(describe)?;
        read_capped(response, cap).await
    }

    /// `https` always; plain `http` only where the policy allows it.
    fn scheme_permitted(&self, url: &Url) -> Result<(), String> {
        match url.scheme() {
            "https" => Ok(()),
            "http" if !self.policy.require_https => Ok(()),
            "http" => Err(Refused::NotHttps.to_string()),
            _ => Err(Refused::NotAUrl.to_string()),
        }
    }
}

/// `Authorization: Basic` as OAuth 2.0 wants it (RFC 6749, 2.3.1): the client id and secret
/// are form-encoded before they are joined and base64-encoded.
pub fn basic_authorization(user: &str, password: &str) -> String {
    use base64::Engine;
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let joined = format!("{}:{}", encode(user), encode(password));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(joined)
    )
}

/// The whole body of `response`, or an error once it passes `cap` bytes (a declared length
/// over the cap is refused before reading).
async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<Fetched, String> {
    let status = response.status().as_u16();
    if response
        .content_length()
        .is_some_and(|n| n > u64::try_from(cap).unwrap_or(u64::MAX))
    {
        return Err(format!("the answer is larger than {cap} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(describe)? {
        if body.len() + chunk.len() > cap {
            return Err(format!("the answer is larger than {cap} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched { status, body })
}

/// A failed send in words for the log, without the URL (it may carry a token in its path).
fn describe(e: reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<Refused>() {
            return refused.to_string();
        }
        source = s.source();
    }
    if e.is_timeout() {
        "the server did not answer in time".into()
    } else if e.is_connect() {
        "could not connect to the server".into()
    } else {
        "the request failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn loopback() -> Policy {
        Policy {
            allowed: ["127.0.0.0/8", "::1/128"]
                .iter()
                .filter_map(|n| Network::parse(n))
                .collect(),
            require_https: false,
        }
    }

    /// A receiver on loopback that answers every request with `answer`; gives its port.
    async fn receiver(answer: &'static str) -> u16 {
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("bind: {e}"),
        };
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = vec![0u8; 8192];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        port
    }

    #[tokio::test]
    async fn urls_are_checked_before_they_are_registered() {
        let strict = Policy {
            allowed: Vec::new(),
            require_https: true,
        };
        for (url, why) in [
            ("not a url", Refused::NotAUrl),
            ("ftp://example.com/x", Refused::NotAUrl),
            ("http://example.com/x", Refused::NotHttps),
            ("https://user:pw@example.com/x", Refused::Credentials),
            ("https://127.0.0.1/x", Refused::Forbidden),
            ("https://[::1]/x", Refused::Forbidden),
            ("https://169.254.169.254/latest", Refused::Forbidden),
            ("https://localhost/x", Refused::Forbidden),
            ("https://10.0.0.7:8443/x", Refused::Forbidden),
        ] {
            assert_eq!(strict.check(url).await, Err(why), "{url}");
        }
        assert!(loopback().check("http://127.0.0.1:9/hook").await.is_ok());
        assert!(loopback().check("http://localhost:9/hook").await.is_ok());
        assert_eq!(
            loopback().check("http://10.0.0.7/hook").await,
            Err(Refused::Forbidden)
        );
    }

    #[tokio::test]
    async fn deliveries_reach_allowed_receivers_only_and_follow_no_redirect() {
        let port =
            receiver("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await;
        let client = match Client::new(loopback(), Duration::from_secs(5), "test") {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let by_name = Url::parse(&format!("http://localhost:{port}/hook")).ok();
        let by_ip = Url::parse(&format!("http://127.0.0.1:{port}/hook")).ok();
        for url in [by_name, by_ip].into_iter().flatten() {
            let answer = client
                .post(&url, &[("webhook-id", "msg_1".into())], b"{}".to_vec())
                .await;
            assert_eq!(
                answer.map(|a| (a.status, a.excerpt)),
                Ok((200, "ok".to_string())),
                "{url}"
            );
        }

        // The same receiver, not allowed: refused by name and by address, nothing sent.
        let strict = match Client::new(Policy::default(), Duration::from_secs(5), "test") {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        for url in [
            format!("http://localhost:{port}/hook"),
            format!("http://127.0.0.1:{port}/hook"),
            format!("http://[::ffff:127.0.0.1]:{port}/hook"),
        ] {
            let url = Url::parse(&url).ok();
            let answer = match url {
                Some(u) => strict.post(&u, &[], b"{}".to_vec()).await,
                None => Err("unparsed".into()),
            };
            assert_eq!(answer, Err(Refused::Forbidden.to_string()));
        }

        let redirecting = receiver(
            "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://169.254.169.254/\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        )
        .await;
        if let Ok(url) = Url::parse(&format!("http://127.0.0.1:{redirecting}/hook")) {
            let answer = client.post(&url, &[], b"{}".to_vec()).await;
            assert_eq!(answer.map(|a| a.status), Ok(307));
        }
    }

    #[tokio::test]
    async fn answers_are_read_up_to_their_cap_and_schemes_follow_the_policy() {
        let port = receiver(
            "HTTP/1.1 200 OK\r\ncontent-length: 10\r\nconnection: close\r\n\r\n0123456789",
        )
        .await;
        let client = match Client::new(loopback(), Duration::from_secs(5), "test") {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let Ok(url) = Url::parse(&format!("http://127.0.0.1:{port}/doc")) else {
            panic!("a url");
        };
        let whole = client.get(&url, "application/json", 10).await;
        assert_eq!(whole.map(|f| f.body), Ok(b"0123456789".to_vec()));
        let over = client.get(&url, "application/json", 9).await;
        assert_eq!(over, Err("the answer is larger than 9 bytes".to_string()));
        let form = client
            .post_form(&url, &[("a", "b c")], Some(("id", "s:e")), 10)
            .await;
        assert_eq!(form.map(|f| f.status), Ok(200));

        let strict = match Client::new(
            Policy {
                allowed: loopback().allowed,
                require_https: true,
            },
            Duration::from_secs(5),
            "test",
        ) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let refused = strict.get(&url, "application/json", 10).await;
        assert_eq!(refused, Err(Refused::NotHttps.to_string()));
    }

    #[test]
    fn basic_credentials_are_form_encoded_first() {
        // RFC 6749, 2.3.1: "s:e" becomes "s%3Ae" before base64.
        assert_eq!(basic_authorization("id", "s:e"), "Basic aWQ6cyUzQWU=");
    }
}
