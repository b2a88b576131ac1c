//! What every operation can answer whatever its handler does, added to the document in one
//! place so no handler has to repeat it (and none can forget it).
//!
//! These answers come from the layers every request goes through, not from handlers:
//! - `http::JsonBody` (every request body): `400` (no body, malformed JSON), `413` (over the
//!   `json` limit), `415` (not `application/json`);
//! - the database pool (every operation but the few below): `503` when the database is
//!   unavailable or contended, with `Retry-After` when a retry will likely succeed;
//! - `telemetry::RequestLog` (every response): `X-Request-Id`;
//! - `idempotency` (operations taking `Idempotency-Key`): `Idempotent-Replayed` on a replay.
//!
//! A handler still lists what it answers itself (`401`, `403`, `404`, `409`, `422`, its `429`
//! and its own reasons for `503`); what it lists wins over what is added here. The standard
//! `401`, `403`, `404` and `422` are named once below ([`Unauthorized`], [`Forbidden`],
//! [`NotFound`], [`Invalid`]): a handler lists them by type (`responses((status = 200, ...),
//! Unauthorized, NotFound)`) and writes a tuple only where it has something of its own to say.

use utoipa::IntoResponses;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{Ref, RefOr};

use crate::error::Problem;

// The standard answers, by type. No doc comments: an empty description is filled with the
// status's problem title (`openapi::describe_responses`), the same words as the problem's.

// `401`: no valid access token (a guard's answer, so every operation with `security`).
#[derive(IntoResponses)]
#[response(status = 401, content_type = "application/problem+json")]
#[allow(dead_code)]
pub struct Unauthorized(Problem);

// `403`: the caller's role may not do this.
#[derive(IntoResponses)]
#[response(status = 403, content_type = "application/problem+json")]
#[allow(dead_code)]
pub struct Forbidden(Problem);

// `404`: no such resource in the caller's organisation (a malformed id too).
#[derive(IntoResponses)]
#[response(status = 404, content_type = "application/problem+json")]
#[allow(dead_code)]
pub struct NotFound(Problem);

// `422`: a field or parameter is invalid; `errors` names each one.
#[derive(IntoResponses)]
#[response(status = 422, content_type = "application/problem+json")]
#[allow(dead_code)]
pub struct Invalid(Problem);

/// Operations that answer without the database.
const DATABASE_FREE: &[&str] = &["/health/live", "/metrics", "/api/v1/openapi.json", "/docs"];

const BODY_ANSWERS: &[(&str, &str)] = &[
    (
        "400",
        "No request body, or a body that is not JSON (a JSON body is required)",
    ),
    ("413", "The body is larger than the JSON limit (64 KiB)"),
    ("415", "The body is not `application/json`"),
];

const UNAVAILABLE: &str = "The database is unavailable, contended or too slow (a statement ran past its time limit, no connection was free in time, or the connection was lost); `Retry-After` says when to try again";

/// Add the shared answers and headers to every operation of `doc`.
pub fn complete(doc: &mut utoipa::openapi::OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        for op in operations_mut(item) {
            if op.request_body.is_some() {
                for (code, description) in BODY_ANSWERS {
                    add_problem(op, code, description);
                }
            }
            if !DATABASE_FREE.contains(&path.as_str()) {
                add_problem(op, "503", UNAVAILABLE);
            }
            declare_headers(op);
        }
    }
}

/// The operations of a path, whichever methods it has (the service answers no other).
pub fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.post,
        &mut item.put,
        &mut item.patch,
        &mut item.delete,
    ]
    .into_iter()
    .flatten()
}

fn add_problem(op: &mut Operation, code: &str, description: &str) {
    op.responses
        .responses
        .entry(code.to_string())
        .or_insert_with(|| RefOr::T(problem(description)));
}

fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

fn declare_headers(op: &mut Operation) {
    let idempotent = op.parameters.iter().flatten().any(|p| {
        matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Header
            && p.name.eq_ignore_ascii_case("Idempotency-Key"))
    });
    for (code, response) in op.responses.responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        insert_header(
            response,
            "X-Request-Id",
            header(
                Type::String,
                "The request's id (the caller's, when short and plain); problem documents repeat it as `request_id`",
            ),
        );
        if code == "429" || code == "503" {
            insert_header(
                response,
                "Retry-After",
                header(
                    Type::Integer,
                    "Seconds to wait before trying again, when a retry is expected to succeed",
                ),
            );
        }
        if idempotent && code.starts_with('2') {
            insert_header(
                response,
                "Idempotent-Replayed",
                header(
                    Type::String,
                    "`true` when this is the stored response to an earlier request with the same `Idempotency-Key`",
                ),
            );
        }
    }
}

fn insert_header(response: &mut Response, name: &str, header: Header) {
    response
        .headers
        .entry(name.to_string())
        .or_insert(RefOr::T(header));
}

fn header(kind: Type, description: &str) -> Header {
    HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(kind)))
        .description(Some(description))
        .build()
}
