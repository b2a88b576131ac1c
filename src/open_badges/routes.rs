//! Authenticated Open Badges routes: admins upload badge images, revoke assertions and set the
//! issuer's contact email; members list their assertions and download one for a wallet.

use chrono::{DateTime, Utc};
use rocket::State;
use rocket::data::{self, Data, FromData, ToByteUnit};
use rocket::http::{ContentType, Header, Status};
use rocket::request::Request;
use rocket::serde::json::Json;
use rocket::{delete, get, post, put};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::images::{self, ImageKind};
use super::queries::{self, AssertionRow};
use super::{Publication, documents, manage};
use crate::auth::{Admin, Caller};
use crate::db::Db;
use crate::error::{AppError, AppResult, ErrorSlot};
use crate::http::{JsonBody, check, path_id};
use crate::openapi::responses::{Forbidden, Invalid, NotFound, Unauthorized};
use crate::validation;

type Problem = crate::error::Problem;

/// An assertion as its recipient and admins see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BadgeAssertion {
    pub id: Uuid,
    pub badge_id: Uuid,
    pub badge_name: String,
    pub member_id: Uuid,
    pub issued_on: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revocation_reason: Option<String>,
    /// The hosted assertion's public URL (what a wallet imports); null when this server
    /// publishes no Open Badges (`public_base_url` unset).
    pub url: Option<String>,
}

impl BadgeAssertion {
    fn of(row: AssertionRow, badge_name: String, publication: &Publication) -> BadgeAssertion {
        BadgeAssertion {
            url: publication.urls().map(|u| u.assertion(row.id)),
            id: row.id,
            badge_id: row.badge_id,
            badge_name,
            member_id: row.member_id,
            issued_on: row.issued_on,
            revoked_at: row.revoked_at,
            revocation_reason: row.revocation_reason,
        }
    }
}

/// A badge's uploaded image.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BadgeImage {
    pub badge_id: Uuid,
    /// `image/png` or `image/svg+xml`, from the bytes.
    pub content_type: String,
    pub bytes: usize,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
    pub updated_at: DateTime<Utc>,
    /// Where the BadgeClass points (null when Open Badges are not published).
    pub url: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeAssertion {
    /// Why, in the issuer's revocation list and the revoked assertion (1-500 characters).
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssuerChange {
    /// The email the Issuer profile publishes (a shared mailbox is best); null: the first
    /// active admin's.
    pub contact_email: Option<String>,
}

/// The organisation as an Open Badges issuer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IssuerSettings {
    /// What was set; null when the first active admin's email is published instead.
    pub contact_email: Option<String>,
    /// The email the Issuer profile publishes now.
    pub published_email: Option<String>,
    /// The Issuer profile's public URL (null when Open Badges are not published).
    pub url: Option<String>,
}

/// A badge image upload: `image/png` or `image/svg+xml`, at most the `badge-image` limit
/// (256 KiB at most).
pub struct ImageUpload {
    kind: ImageKind,
    bytes: Vec<u8>,
}

#[rocket::async_trait]
impl<'r> FromData<'r> for ImageUpload {
    type Error = AppError;

    async fn from_data(req: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
        match read_image(req, data).await {
            Ok(upload) => data::Outcome::Success(upload),
            Err(e) => data::Outcome::Error((ErrorSlot::put(req, e.clone_shallow()), e)),
        }
    }
}

async fn read_image(req: &Request<'_>, data: Data<'_>) -> Result<ImageUpload, AppError> {
    let kind = req
        .content_type()
        .and_then(|ct| ImageKind::parse(&format!("{}/{}", ct.top(), ct.sub()).to_ascii_lowercase()))
        .ok_or_else(|| {
            AppError::UnsupportedMediaType("the body must be image/png or image/svg+xml".into())
        })?;
    let max = images::MAX_BYTES.bytes();
    let limit = req.limits().get("badge-image").map_or(max, |l| l.min(max));
    let bytes = data
        .open(limit)
        .into_bytes()
        .await
        .map_err(|e| AppError::BadRequest(format!("could not read the body: {e}")))?;
    if !bytes.is_complete() {
        return Err(AppError::PayloadTooLarge(format!(
            "the image exceeds the limit of {limit}"
        )));
    }
    Ok(ImageUpload {
        kind,
        bytes: bytes.into_inner(),
    })
}

/// Upload a badge's image (admins): PNG (at most 1024 pixels a side) or SVG with nothing
/// active (no scripts, event handlers, DOCTYPE, external references), at most 256 KiB; the
/// bytes must be what the `Content-Type` says. Replaces any earlier image. Audited.
#[utoipa::path(
    tag = "open-badges",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Badge id")),
    request_body(description = "The image's bytes", content(
        (String = "image/png"),
        (String = "image/svg+xml"),
    )),
    responses(
        (status = 200, body = BadgeImage),
        Unauthorized,
        Forbidden,
        NotFound,
        (status = 413, description = "Larger than the `badge-image` limit (256 KiB)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `image/png` or `image/svg+xml`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`body`: not a valid PNG, an SVG with something active or external in it, or bytes of another type than declared", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/api/v1/badges/<id>/image", data = "<image>")]
pub async fn put_image(
    db: &State<Db>,
    publication: &State<Publication>,
    admin: Admin,
    id: &str,
    image: ImageUpload,
) -> AppResult<Json<BadgeImage>> {
    let badge = path_id(id, "badge")?;
    let kind = images::check(image.kind, &image.bytes)?;
    let size = image.bytes.len();
    let mut conn = db.conn().await?;
    let org = admin.organisation_id;
    let (sha256, updated_at) =
        manage::set_image(&mut conn, org, admin.member_id, badge, kind, image.bytes).await?;
    tracing::info!(organisation_id = %org, badge = %badge, by = %admin.member_id, "badge image changed");
    Ok(Json(BadgeImage {
        badge_id: badge,
        content_type: kind.content_type().into(),
        bytes: size,
        sha256,
        updated_at,
        url: publication.urls().map(|u| u.image(badge)),
    }))
}

/// Remove a badge's uploaded image (admins); a placeholder is served again. Audited.
#[utoipa::path(
    tag = "open-badges",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Badge id")),
    responses(
        (status = 204, description = "Removed"),
        Unauthorized,
        Forbidden,
        (status = 404, description = "No such badge, or it has no uploaded image", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/api/v1/badges/<id>/image")]
pub async fn delete_image(db: &State<Db>, admin: Admin, id: &str) -> AppResult<Status> {
    let badge = path_id(id, "badge")?;
    let mut conn = db.conn().await?;
    manage::remove_image(&mut conn, admin.organisation_id, admin.member_id, badge).await?;
    Ok(Status::NoContent)
}

/// Revoke a badge assertion (admins): its public URL answers `410 Gone` and the issuer's
/// revocation list names it; the member keeps the badge itself. Audited.
#[utoipa::path(
    tag = "open-badges",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Assertion id")),
    request_body = RevokeAssertion,
    responses(
        (status = 200, body = BadgeAssertion),
        Unauthorized,
        Forbidden,
        NotFound,
        (status = 409, description = "Already revoked (`revoked_at`, `revocation_reason`)", body = Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[post("/api/v1/badge-assertions/<id>/revoke", data = "<body>")]
pub async fn revoke(
    db: &State<Db>,
    publication: &State<Publication>,
    admin: Admin,
    id: &str,
    body: JsonBody<RevokeAssertion>,
) -> AppResult<Json<BadgeAssertion>> {
    let id = path_id(id, "badge assertion")?;
    let mut errors = Vec::new();
    let reason = validation::text("reason", &body.0.reason, 500, &mut errors);
    check(errors)?;
    let mut conn = db.conn().await?;
    let org = admin.organisation_id;
    let row = manage::revoke(&mut conn, org, admin.member_id, id, reason).await?;
    let name = queries::badge(&mut conn, row.badge_id)
        .await?
        .map(|b| b.name)
        .unwrap_or_default();
    tracing::info!(organisation_id = %org, assertion = %id, by = %admin.member_id, "badge assertion revoked");
    Ok(Json(BadgeAssertion::of(row, name, publication)))
}

/// The caller's badge assertions, with the public URL of each (what a wallet imports).
#[utoipa::path(
    tag = "open-badges",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<BadgeAssertion>), Unauthorized)
)]
#[get("/api/v1/me/badge-assertions")]
pub async fn mine(
    db: &State<Db>,
    publication: &State<Publication>,
    caller: Caller,
) -> AppResult<Json<Vec<BadgeAssertion>>> {
    let mut conn = db.conn().await?;
    let rows = queries::of_member(&mut conn, caller.organisation_id, caller.member_id).await?;
    Ok(Json(
        rows.into_iter()
            .map(|(row, name)| BadgeAssertion::of(row, name, publication))
            .collect(),
    ))
}

/// A member's badge assertions (admins), e.g. to find one to revoke.
#[utoipa::path(
    tag = "open-badges",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Member id")),
    responses((status = 200, body = Vec<BadgeAssertion>), Unauthorized, Forbidden, NotFound)
)]
#[get("/api/v1/members/<id>/badge-assertions")]
pub async fn of_member(
    db: &State<Db>,
    publication: &State<Publication>,
    admin: Admin,
    id: &str,
) -> AppResult<Json<Vec<BadgeAssertion>>> {
    let member = path_id(id, "member")?;
    let mut conn = db.conn().await?;
    queries::member_in(&mut conn, admin.organisation_id, member).await?;
    let rows = queries::of_member(&mut conn, admin.organisation_id, member).await?;
    Ok(Json(
        rows.into_iter()
            .map(|(row, name)| BadgeAssertion::of(row, name, publication))
            .collect(),
    ))
}

/// A file to save: a JSON document, kept by no cache.
#[derive(rocket::Responder)]
pub struct Download {
    body: (ContentType, String),
    disposition: Header<'static>,
    cache: Header<'static>,
}

/// One of the caller's assertions as a file for a wallet: the hosted Assertion with its
/// BadgeClass and Issuer embedded. Its `id` stays the public URL, which wallets verify.
#[utoipa::path(
    tag = "open-badges",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Assertion id")),
    responses(
        (status = 200, description = "The Assertion (JSON-LD) with `badge` and `badge.issuer` embedded; `Cache-Control: no-store`", content_type = "application/json",
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"badge-<id>.json\"`"))),
        Unauthorized,
        (status = 404, description = "Not the caller's assertion, or Open Badges are not published (`public_base_url` unset)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The assertion is revoked", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/me/badge-assertions/<id>/download")]
pub async fn download(
    db: &State<Db>,
    publication: &State<Publication>,
    caller: Caller,
    id: &str,
) -> AppResult<Download> {
    let id = path_id(id, "badge assertion")?;
    let urls = publication
        .urls()
        .ok_or_else(|| AppError::NotFound("Open Badges are not published by this server".into()))?;
    let mut conn = db.conn().await?;
    let doc = wallet_document(
        &mut conn,
        urls,
        caller.organisation_id,
        caller.member_id,
        id,
    )
    .await?;
    let body = serde_json::to_string_pretty(&doc).map_err(AppError::internal)?;
    Ok(Download {
        body: (ContentType::JSON, body),
        disposition: Header::new(
            "Content-Disposition",
            format!("attachment; filename=\"badge-{id}.json\""),
        ),
        cache: Header::new("Cache-Control", "no-store"),
    })
}

async fn wallet_document(
    conn: &mut diesel_async::AsyncPgConnection,
    urls: super::Urls<'_>,
    org: Uuid,
    member: Uuid,
    id: Uuid,
) -> AppResult<serde_json::Value> {
    let row = queries::assertion(conn, id)
        .await?
        .filter(|a| a.organisation_id == org && a.member_id == member)
        .ok_or_else(|| AppError::not_found("badge assertion of yours"))?;
    let badge = queries::badge(conn, row.badge_id)
        .await?
        .ok_or_else(|| AppError::not_found("badge"))?;
    let issuer = queries::issuer(conn, org)
        .await?
        .ok_or_else(|| AppError::not_found("issuer"))?;
    let badge = documents::badge_class(urls, &badge, documents::issuer(urls, &issuer));
    documents::assertion(urls, &row, badge).ok_or_else(|| AppError::Conflict {
        detail: "this assertion is revoked".into(),
        extra: Some(
            json!({ "revoked_at": row.revoked_at, "revocation_reason": row.revocation_reason }),
        ),
    })
}

/// The organisation as an Open Badges issuer (admins): the contact email it publishes.
#[utoipa::path(
    tag = "open-badges",
    security(("bearer" = [])),
    responses((status = 200, body = IssuerSettings), Unauthorized, Forbidden)
)]
#[get("/api/v1/open-badges/issuer")]
pub async fn show_issuer(
    db: &State<Db>,
    publication: &State<Publication>,
    admin: Admin,
) -> AppResult<Json<IssuerSettings>> {
    let mut conn = db.conn().await?;
    issuer_settings(&mut conn, publication, admin.organisation_id)
        .await
        .map(Json)
}

/// Set the email the Issuer profile publishes (admins; null: the first active admin's).
/// Audited as `organisation_settings_changed`.
#[utoipa::path(
    tag = "open-badges",
    security(("bearer" = [])),
    request_body = IssuerChange,
    responses((status = 200, body = IssuerSettings), Unauthorized, Forbidden, Invalid)
)]
#[put("/api/v1/open-badges/issuer", data = "<body>")]
pub async fn change_issuer(
    db: &State<Db>,
    publication: &State<Publication>,
    admin: Admin,
    body: JsonBody<IssuerChange>,
) -> AppResult<Json<IssuerSettings>> {
    let mut errors = Vec::new();
    let email = body
        .0
        .contact_email
        .map(|e| validation::email("contact_email", &e, &mut errors));
    check(errors)?;
    let mut conn = db.conn().await?;
    let org = admin.organisation_id;
    manage::set_contact_email(&mut conn, org, admin.member_id, email).await?;
    issuer_settings(&mut conn, publication, org).await.map(Json)
}

async fn issuer_settings(
    conn: &mut diesel_async::AsyncPgConnection,
    publication: &Publication,
    org: Uuid,
) -> AppResult<IssuerSettings> {
    let issuer = queries::issuer(conn, org)
        .await?
        .ok_or_else(|| AppError::not_found("organisation"))?;
    Ok(IssuerSettings {
        contact_email: queries::contact_email(conn, org).await?,
        published_email: issuer.email,
        url: publication.urls().map(|u| u.issuer(org)),
    })
}

crate::http::operations!(
    /// Open Badges: images, revocation, members' assertions and the issuer.
    OpenBadgesApi { put_image, delete_image, revoke, mine, of_member, download, show_issuer, change_issuer }
);
