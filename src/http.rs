//! Helpers at the HTTP edge: the JSON body guard, path ids and cursor pagination.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rocket::data::{self, Data, FromData, ToByteUnit};
use rocket::request::Request;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{AppError, ErrorSlot, FieldError};

/// A JSON request body. Unlike `rocket::serde::json::Json`, a failure names the offending field
/// in a problem document: unknown fields, missing fields and wrong types all say where.
/// The second field fingerprints the request (path and canonical JSON) for `Idempotency-Key`.
pub struct JsonBody<T>(pub T, pub Fingerprint);

/// SHA-256 of a request's path and canonical body: two requests with the same fingerprint
/// ask for the same thing, whatever their whitespace or key order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    pub fn of(path: &str, body: &serde_json::Value) -> Fingerprint {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(path.as_bytes());
        h.update([0]);
        // serde_json's map is ordered by key, so serialising a parsed value is canonical.
        h.update(serde_json::to_vec(body).unwrap_or_default());
        Fingerprint(h.finalize().into())
    }
}

#[rocket::async_trait]
impl<'r, T: DeserializeOwned> FromData<'r> for JsonBody<T> {
    type Error = AppError;

    async fn from_data(req: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
        match parse_body(req, data).await {
            Ok((value, fingerprint)) => data::Outcome::Success(JsonBody(value, fingerprint)),
            Err(e) => data::Outcome::Error((ErrorSlot::put(req, e.clone_shallow()), e)),
        }
    }
}

async fn parse_body<T: DeserializeOwned>(
    req: &Request<'_>,
    data: Data<'_>,
) -> Result<(T, Fingerprint), AppError> {
    if let Some(ct) = req.content_type()
        && !(ct.is_json() || ct.sub().as_str().ends_with("+json"))
    {
        return Err(AppError::UnsupportedMediaType(format!(
            "the body must be application/json, not {ct}"
        )));
    }
    let limit = req.limits().get("json").unwrap_or_else(|| 64.kibibytes());
    let bytes = data
        .open(limit)
        .into_bytes()
        .await
        .map_err(|e| AppError::BadRequest(format!("could not read the body: {e}")))?;
    if !bytes.is_complete() {
        return Err(AppError::PayloadTooLarge(format!(
            "the body exceeds the limit of {limit}"
        )));
    }
    let bytes = bytes.into_inner();
    if bytes.is_empty() {
        return Err(AppError::BadRequest("a JSON body is required".into()));
    }
    // Parse the syntax first (a 400 for malformed JSON), then map the value onto the type: read
    // straight from bytes, serde reports some type mismatches (a number for an enum) as syntax
    // errors, and those deserve a 422 naming the field.
    let canonical: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| AppError::BadRequest(format!("malformed JSON: {e}")))?;
    // Every body is an object of named fields; serde would also build a struct from an array
    // of its fields in order (`[null, null]`), which no documented body is.
    if !canonical.is_object() {
        return Err(AppError::Validation(vec![FieldError::new(
            "body",
            "must be a JSON object",
        )]));
    }
    let value: T =
        serde_path_to_error::deserialize(canonical.clone()).map_err(|e| body_error(&e))?;
    Ok((
        value,
        Fingerprint::of(req.uri().path().as_str(), &canonical),
    ))
}

fn body_error(e: &serde_path_to_error::Error<serde_json::Error>) -> AppError {
    let inner = e.inner();
    if inner.is_syntax() || inner.is_eof() || inner.is_io() {
        return AppError::BadRequest(format!("malformed JSON: {inner}"));
    }
    let path = e.path().to_string();
    let path = if path == "." { String::new() } else { path };
    let message = inner.to_string();
    // serde reports a missing field at its parent; name the field itself.
    let field = match message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        Some(missing) if path.is_empty() => missing.to_string(),
        Some(missing) => format!("{path}.{missing}"),
        None if path.is_empty() => "body".to_string(),
        None => path,
    };
    // Drop serde's " at line 1 column 7" suffix: the field name says where.
    let message = match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message,
    };
    AppError::Validation(vec![FieldError::new(field, message)])
}

/// Parse an id from the path. A malformed id answers 404 like an unknown one: from outside,
/// "no such team" is the whole truth either way.
pub fn path_id(raw: &str, what: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(raw).map_err(|_| AppError::not_found(what))
}

// ---- Query parameters ---------------------------------------------------------------------
// Query parameters arrive as strings and are parsed here, so that a bad one is reported with
// the others in one 422 naming each field, in the same words on every endpoint.

/// An id parameter (surrounding blanks ignored).
pub fn uuid_param(field: &str, raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<Uuid> {
    let raw = raw?;
    match Uuid::parse_str(raw.trim()) {
        Ok(id) => Some(id),
        Err(_) => {
            errors.push(FieldError::new(field, "must be an id (UUID)"));
            None
        }
    }
}

/// A flag: `true` or `false`, exactly as the document's `boolean` says; `default` when absent.
/// (`1`, `0` and an empty value were once read as flags too: a client relying on them would
/// not match the published contract.)
pub fn bool_param(
    field: &str,
    raw: Option<&str>,
    default: bool,
    errors: &mut Vec<FieldError>,
) -> bool {
    match raw {
        None => default,
        Some("true") => true,
        Some("false") => false,
        Some(_) => {
            errors.push(FieldError::new(field, "must be true or false"));
            default
        }
    }
}

/// A whole number in `min..=max`; `default` when absent.
pub fn int_param(
    field: &str,
    raw: Option<&str>,
    default: i64,
    (min, max): (i64, i64),
    errors: &mut Vec<FieldError>,
) -> i64 {
    let Some(raw) = raw else {
        return default;
    };
    match raw.trim().parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => n,
        _ => {
            errors.push(FieldError::new(
                field,
                format!("must be a whole number from {min} to {max}"),
            ));
            default
        }
    }
}

/// An RFC 3339 timestamp parameter.
pub fn time_param(
    field: &str,
    raw: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let raw = raw?;
    match chrono::DateTime::parse_from_rfc3339(raw.trim()) {
        Ok(t) => Some(t.with_timezone(&chrono::Utc)),
        Err(_) => {
            errors.push(FieldError::new(
                field,
                "must be an RFC 3339 timestamp such as 2026-12-01T00:00:00Z",
            ));
            None
        }
    }
}

/// A date parameter, `YYYY-MM-DD` exactly.
pub fn date_param(
    field: &str,
    raw: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Option<chrono::NaiveDate> {
    let raw = raw?.trim();
    match chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        Ok(d) if raw.len() == 10 => Some(d),
        _ => {
            errors.push(FieldError::new(
                field,
                "must be a date, YYYY-MM-DD (e.g. 2026-11-01)",
            ));
            None
        }
    }
}

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 200;

/// Parse `limit`: 1..=200, 50 when absent.
pub fn page_limit(raw: Option<&str>, errors: &mut Vec<FieldError>) -> i64 {
    int_param("limit", raw, DEFAULT_PAGE_SIZE, (1, MAX_PAGE_SIZE), errors)
}

/// A keyset cursor: the sort key and id of the last row of the previous page. Opaque to
/// clients (base64url JSON), so the encoding can change without breaking them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Cursor {
    #[serde(rename = "k")]
    pub key: String,
    #[serde(rename = "i")]
    pub id: Uuid,
}

impl Cursor {
    /// The cursor of a list sorted by time, then id.
    pub fn at(at: chrono::DateTime<chrono::Utc>, id: Uuid) -> Cursor {
        Cursor {
            key: at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            id,
        }
    }

    /// The time of a cursor made by [`Cursor::at`].
    pub fn time(&self, errors: &mut Vec<FieldError>) -> Option<chrono::DateTime<chrono::Utc>> {
        match chrono::DateTime::parse_from_rfc3339(&self.key) {
            Ok(t) => Some(t.with_timezone(&chrono::Utc)),
            Err(_) => {
                errors.push(FieldError::new(
                    "cursor",
                    "is not a cursor this API returned",
                ));
                None
            }
        }
    }
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn decode(raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<Cursor> {
        let raw = raw?;
        // Cursors we issue hold a key of a few hundred characters at most: anything much
        // longer is not ours, and is refused before it is decoded.
        let parsed = Some(raw)
            .filter(|r| r.len() <= MAX_CURSOR_LENGTH)
            .and_then(|r| URL_SAFE_NO_PAD.decode(r).ok())
            .and_then(|bytes| serde_json::from_slice::<Cursor>(&bytes).ok());
        if parsed.is_none() {
            errors.push(FieldError::new(
                "cursor",
                "is not a cursor this API returned; start again without it",
            ));
        }
        parsed
    }
}

const MAX_CURSOR_LENGTH: usize = 2048;

/// The `cursor` of a list sorted by time, then id: the (time, id) of the previous page's last
/// row.
pub fn time_cursor(
    raw: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Option<(chrono::DateTime<chrono::Utc>, Uuid)> {
    let cursor = Cursor::decode(raw, errors);
    cursor
        .as_ref()
        .and_then(|c| c.time(errors).map(|t| (t, c.id)))
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Build a page from `limit + 1` fetched rows: the extra row only tells that more exist.
    pub fn from_rows(mut rows: Vec<T>, limit: i64, cursor_of: impl Fn(&T) -> Cursor) -> Page<T> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|r| cursor_of(r).encode())
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }
}

/// Turn collected field errors into a 422, or nothing.
pub fn check(errors: Vec<FieldError>) -> Result<(), AppError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

/// A JSON answer already serialised (served from the read cache).
pub struct RawJson(pub std::sync::Arc<[u8]>);

impl RawJson {
    pub fn of<T: Serialize>(value: &T) -> Result<RawJson, AppError> {
        serde_json::to_vec(value)
            .map(|bytes| RawJson(bytes.into()))
            .map_err(|e| AppError::internal(format!("cannot serialise an answer: {e}")))
    }
}

impl<'r> rocket::response::Responder<'r, 'static> for RawJson {
    fn respond_to(self, _: &'r Request<'_>) -> rocket::response::Result<'static> {
        let len = self.0.len();
        rocket::Response::build()
            .header(rocket::http::ContentType::JSON)
            .sized_body(len, std::io::Cursor::new(self.0))
            // In one piece: Rocket hands a body to hyper in chunks of 4 KiB by default, each
            // through a channel, and a board answer is a little more than that.
            .max_chunk_size(len.max(1))
            .ok()
    }
}

/// Wraps the handler of every route that takes query parameters so that a field given twice
/// (`?limit=5&limit=500`) is refused, naming it, before the route's guards run: Rocket's form
/// parsing would turn a repeated optional parameter into "absent" and quietly answer with
/// defaults, and no query parameter here takes several values. Being the route's handler, it
/// holds for any caller (a member's token, an API key, nobody); the export, which reads its
/// query string itself, refuses repeats in `exports::params` with its other parameter errors.
pub fn refusing_repeated_query(routes: Vec<rocket::Route>) -> Vec<rocket::Route> {
    routes
        .into_iter()
        .map(|mut route| {
            if route.uri.query().is_some() {
                route.handler = Box::new(RefuseRepeatedQuery(route.handler));
            }
            route
        })
        .collect()
}

#[derive(Clone)]
struct RefuseRepeatedQuery(Box<dyn rocket::route::Handler>);

#[rocket::async_trait]
impl rocket::route::Handler for RefuseRepeatedQuery {
    async fn handle<'r>(&self, req: &'r Request<'_>, data: Data<'r>) -> rocket::route::Outcome<'r> {
        match repeated_query_field(req) {
            Some(e) => rocket::route::Outcome::Error(ErrorSlot::put(req, e)),
            None => self.0.handle(req, data).await,
        }
    }
}

fn repeated_query_field(req: &Request<'_>) -> Option<AppError> {
    let mut seen = std::collections::HashSet::new();
    req.query_fields()
        .map(|field| field.name.source().as_str())
        .find(|name| !seen.insert(*name))
        .map(|name| AppError::Validation(vec![FieldError::new(name, "is given more than once")]))
}

/// An area's operations, listed once: `routes()` for Rocket to mount and `$api`, the area's
/// part of the OpenAPI document (merged by `openapi::document`). Each handler's method and path
/// come from its Rocket attribute (utoipa's `rocket_extras` reads it), so a handler is named
/// here and nowhere else. Anything after the list goes into `#[openapi(...)]` as written
/// (`components(schemas(...))`).
macro_rules! operations {
    ($(#[$doc:meta])* $api:ident { $($($seg:ident)::+),+ $(,)? } $($extra:tt)*) => {
        /// The area's routes, mounted by `lib.rs`.
        pub fn routes() -> Vec<::rocket::Route> {
            ::rocket::routes![$($($seg)::+),+]
        }

        $(#[$doc])*
        #[derive(::utoipa::OpenApi)]
        #[openapi(paths($($($seg)::+),+) $($extra)*)]
        pub struct $api;
    };
}
pub(crate) use operations;
