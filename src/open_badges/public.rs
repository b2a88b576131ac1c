//! The public Open Badges documents (`/ob/v2/...`): no authentication, JSON-LD, cacheable for
//! five minutes. Ids are random UUIDs, so nothing can be enumerated; an unknown id, or a server
//! without `public_base_url`, answers 404.

use rocket::State;
use rocket::get;
use rocket::http::{ContentType, Header, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Publication, Urls, documents, images, queries};
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::openapi::responses::NotFound;

/// How long a cache may keep a public document (a revocation shows within this).
const CACHE: &str = "public, max-age=300";

/// A JSON-LD document: `application/ld+json`, or `application/json` for a client that accepts
/// only that.
pub struct LdJson {
    pub status: Status,
    pub doc: Value,
}

impl<'r> Responder<'r, 'static> for LdJson {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        let accept = req
            .headers()
            .get_one("Accept")
            .unwrap_or("")
            .to_ascii_lowercase();
        let json_only = accept.contains("application/json")
            && !accept.contains("application/ld+json")
            && !accept.contains("*/*");
        let content_type = if json_only {
            ContentType::JSON
        } else {
            ContentType::new("application", "ld+json")
        };
        let body = serde_json::to_string(&self.doc).map_err(|_| Status::InternalServerError)?;
        Response::build()
            .status(self.status)
            .header(content_type)
            .header(Header::new("Cache-Control", CACHE))
            .header(Header::new("Access-Control-Allow-Origin", "*"))
            .header(Header::new("X-Content-Type-Options", "nosniff"))
            .sized_body(body.len(), std::io::Cursor::new(body))
            .ok()
    }
}

/// A badge image, served so that nothing in it can run.
pub struct Image {
    pub content_type: ContentType,
    pub bytes: Vec<u8>,
}

impl<'r> Responder<'r, 'static> for Image {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        Response::build()
            .header(self.content_type)
            .header(Header::new("Cache-Control", CACHE))
            .header(Header::new("Access-Control-Allow-Origin", "*"))
            .header(Header::new("X-Content-Type-Options", "nosniff"))
            .header(Header::new(
                "Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox",
            ))
            .sized_body(self.bytes.len(), std::io::Cursor::new(self.bytes))
            .ok()
    }
}

fn published(publication: &Publication) -> AppResult<Urls<'_>> {
    publication.urls().ok_or_else(|| {
        AppError::NotFound(
            "Open Badges are not published by this server (public_base_url is not set)".into(),
        )
    })
}

fn id(raw: &str, what: &str) -> AppResult<Uuid> {
    Uuid::parse_str(raw).map_err(|_| AppError::NotFound(format!("no {what} with that id")))
}

fn ok(doc: Value) -> LdJson {
    LdJson {
        status: Status::Ok,
        doc,
    }
}

/// An organisation as an Open Badges 2.0 Issuer profile (public).
#[utoipa::path(
    tag = "open-badges",
    params(("id" = Uuid, Path, description = "Organisation id")),
    responses(
        (status = 200, description = "Issuer profile (JSON-LD): `id`, `type`, `name`, `url`, `email` (the organisation's badge contact email, else its first admin's), `revocationList`", content((Object = "application/ld+json"), (Object = "application/json"))),
        NotFound,
    )
)]
#[get("/ob/v2/issuers/<id>")]
pub async fn issuer(
    db: &State<Db>,
    publication: &State<Publication>,
    id: &str,
) -> AppResult<LdJson> {
    let urls = published(publication)?;
    let org = self::id(id, "issuer")?;
    let mut conn = db.conn().await?;
    let row = queries::issuer(&mut conn, org)
        .await?
        .ok_or_else(|| AppError::NotFound("no issuer with that id".into()))?;
    Ok(ok(documents::issuer(urls, &row)))
}

/// An organisation's revoked assertions, as an Open Badges 2.0 RevocationList (public).
#[utoipa::path(
    tag = "open-badges",
    params(("id" = Uuid, Path, description = "Organisation id")),
    responses(
        (status = 200, description = "RevocationList (JSON-LD): `revokedAssertions` as `{id, revocationReason}`", content((Object = "application/ld+json"), (Object = "application/json"))),
        NotFound,
    )
)]
#[get("/ob/v2/issuers/<id>/revocations")]
pub async fn revocations(
    db: &State<Db>,
    publication: &State<Publication>,
    id: &str,
) -> AppResult<LdJson> {
    let urls = published(publication)?;
    let org = self::id(id, "issuer")?;
    let mut conn = db.conn().await?;
    queries::issuer(&mut conn, org)
        .await?
        .ok_or_else(|| AppError::NotFound("no issuer with that id".into()))?;
    let revoked = queries::revoked(&mut conn, org).await?;
    Ok(ok(documents::revocation_list(urls, org, &revoked)))
}

/// A badge as an Open Badges 2.0 BadgeClass (public; inactive badges too: awards made stay valid).
#[utoipa::path(
    tag = "open-badges",
    params(("id" = Uuid, Path, description = "Badge id")),
    responses(
        (status = 200, description = "BadgeClass (JSON-LD): `name`, `description`, `image`, `criteria.narrative`, `issuer`", content((Object = "application/ld+json"), (Object = "application/json"))),
        NotFound,
    )
)]
#[get("/ob/v2/badges/<id>")]
pub async fn badge_class(
    db: &State<Db>,
    publication: &State<Publication>,
    id: &str,
) -> AppResult<LdJson> {
    let urls = published(publication)?;
    let badge = self::id(id, "badge")?;
    let mut conn = db.conn().await?;
    let row = queries::badge(&mut conn, badge)
        .await?
        .ok_or_else(|| AppError::NotFound("no badge with that id".into()))?;
    let issuer = json!(urls.issuer(row.organisation_id));
    Ok(ok(documents::badge_class(urls, &row, issuer)))
}

/// A badge's image (public): the uploaded PNG or SVG, or a placeholder SVG with its name.
#[utoipa::path(
    tag = "open-badges",
    params(("id" = Uuid, Path, description = "Badge id")),
    responses(
        (status = 200, description = "The image, with `X-Content-Type-Options: nosniff` and a `Content-Security-Policy` that lets nothing run", content((Vec<u8> = "image/png"), (String = "image/svg+xml"))),
        NotFound,
    )
)]
#[get("/ob/v2/badges/<id>/image")]
pub async fn badge_image(
    db: &State<Db>,
    publication: &State<Publication>,
    id: &str,
) -> AppResult<Image> {
    published(publication)?;
    let badge = self::id(id, "badge")?;
    let mut conn = db.conn().await?;
    let row = queries::badge(&mut conn, badge)
        .await?
        .ok_or_else(|| AppError::NotFound("no badge with that id".into()))?;
    let svg = ContentType::new("image", "svg+xml");
    Ok(match queries::image(&mut conn, badge).await? {
        Some((kind, bytes)) if kind == "image/png" => Image {
            content_type: ContentType::PNG,
            bytes,
        },
        Some((_, bytes)) => Image {
            content_type: svg,
            bytes,
        },
        None => Image {
            content_type: svg,
            bytes: images::placeholder(&row.name).into_bytes(),
        },
    })
}

/// A hosted Open Badges 2.0 Assertion (public). A revoked one answers `410 Gone` with only
/// `id`, `revoked: true` and `revocationReason`, as hosted verification asks.
#[utoipa::path(
    tag = "open-badges",
    params(("id" = Uuid, Path, description = "Assertion id")),
    responses(
        (status = 200, description = "Assertion (JSON-LD): `recipient` (a salted SHA-256 of the lower-cased email), `badge`, `verification: hosted`, `issuedOn`", content((Object = "application/ld+json"), (Object = "application/json"))),
        NotFound,
        (status = 410, description = "Revoked: `{id, type, revoked: true, revocationReason}`", content((Object = "application/ld+json"), (Object = "application/json"))),
    )
)]
#[get("/ob/v2/assertions/<id>")]
pub async fn assertion(
    db: &State<Db>,
    publication: &State<Publication>,
    id: &str,
) -> AppResult<LdJson> {
    let urls = published(publication)?;
    let assertion = self::id(id, "assertion")?;
    let mut conn = db.conn().await?;
    let row = queries::assertion(&mut conn, assertion)
        .await?
        .ok_or_else(|| AppError::NotFound("no assertion with that id".into()))?;
    Ok(
        match documents::assertion(urls, &row, json!(urls.badge(row.badge_id))) {
            Some(doc) => ok(doc),
            None => LdJson {
                status: Status::Gone,
                doc: documents::revoked(urls, row.id, row.revocation_reason.as_deref()),
            },
        },
    )
}

crate::http::operations!(
    /// The public Open Badges 2.0 documents.
    PublicBadgesApi { issuer, revocations, badge_class, badge_image, assertion }
);
