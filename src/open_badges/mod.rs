//! Open Badges 2.0: every awarded badge is a hosted assertion, published as JSON-LD at stable
//! public URLs under `public_base_url`, revocable, and downloadable by its recipient for a
//! wallet (Badgr/Canvas Credentials, Open Badge Factory, ...).
//!
//! - `publication`: `public_base_url` and the URL of each document.
//! - `documents`: the Issuer profile, BadgeClass, Assertion and RevocationList, built from rows
//!   (no I/O, unit-tested against the 2.0 required properties).
//! - `images`: the checks an uploaded badge image passes (PNG, or SVG without anything active)
//!   and the placeholder SVG served when there is none.
//! - `queries`: the rows. Assertions are written by the database itself: a trigger on
//!   `member_badges` gives every award its assertion in the award's own transaction, with a
//!   salted SHA-256 of the recipient's lower-cased email (migration `..._open_badges`).
//! - `public`: the unauthenticated documents (`/ob/v2/...`).
//! - `manage`: admins' changes (images, revocation, the issuer's email), audited.
//! - `routes`: admins' image upload and revocation, members' list and wallet download.

pub mod documents;
pub mod images;
pub mod manage;
pub mod public;
pub mod publication;
pub mod queries;
pub mod routes;

pub use publication::{CONTEXT, Publication, Urls};

/// The area's routes, public and authenticated.
pub fn routes() -> Vec<rocket::Route> {
    let mut all = public::routes();
    all.extend(routes::routes());
    all
}

/// The area's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    let mut doc = public::PublicBadgesApi::openapi();
    doc.merge(routes::OpenBadgesApi::openapi());
    doc
}
