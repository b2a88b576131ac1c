//! Logging set-up and the request-id fairing.
//!
//! Every request gets an id: the caller's `X-Request-Id` when it is sane, a fresh UUID
//! otherwise. It is echoed in the response, written on every log line about the request and
//! put into every problem document, so a user's error report leads straight to the log.

use std::fmt;
use std::time::Instant;

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::Header;
use rocket::request::{self, FromRequest, Request};
use rocket::{Data, Response};
use tracing_subscriber::EnvFilter;

/// Install the global tracing subscriber: JSON lines when `FRONTLINE_LOG_FORMAT=json`, human
/// text otherwise; filtered by `RUST_LOG` (default `info`).
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,rocket=warn,_=warn,rocket::launch=info"));
    let json = std::env::var("FRONTLINE_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // `try_init` because tests build many rockets in one process.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

#[derive(Clone, Debug)]
pub struct RequestId(String);

impl RequestId {
    pub fn of<'r>(req: &'r Request<'_>) -> &'r RequestId {
        req.local_cache(|| RequestId::from_header(req.headers().get_one("X-Request-Id")))
    }

    fn from_header(value: Option<&str>) -> RequestId {
        match value {
            Some(v)
                if !v.is_empty()
                    && v.len() <= 128
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)) =>
            {
                RequestId(v.to_string())
            }
            _ => RequestId(uuid::Uuid::new_v4().to_string()),
        }
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for &'r RequestId {
    type Error = std::convert::Infallible;
    async fn from_request(req: &'r Request<'_>) -> request::Outcome<Self, Self::Error> {
        request::Outcome::Success(RequestId::of(req))
    }
}

struct Started(Instant);

/// Assigns request ids and logs one line per request.
pub struct RequestLog;

#[rocket::async_trait]
impl Fairing for RequestLog {
    fn info(&self) -> Info {
        Info {
            name: "request id and access log",
            kind: Kind::Request | Kind::Response,
        }
    }

    async fn on_request(&self, req: &mut Request<'_>, _: &mut Data<'_>) {
        RequestId::of(req);
        req.local_cache(|| Started(Instant::now()));
    }

    async fn on_response<'r>(&self, req: &'r Request<'_>, res: &mut Response<'r>) {
        let id = RequestId::of(req);
        res.set_header(Header::new("X-Request-Id", id.to_string()));
        let elapsed = req.local_cache(|| Started(Instant::now())).0.elapsed();
        // The path only: query strings may carry cursors and filters, never secrets, but
        // keeping them out keeps logs small and free of anything personal.
        tracing::info!(
            request_id = %id,
            method = %req.method(),
            path = %req.uri().path(),
            status = res.status().code,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
    }
}
