//! `GET /api/v1/exports/engagement`: reads the query string and `Accept`, then hands over to
//! `start`.

use rocket::State;
use rocket::get;
use rocket::http::Accept;
use rocket::http::uri::Origin;

use super::limits::ExportPool;
use super::params::{Format, RawParams};
use super::{EngagementParams, EngagementRow, ExportResponse, start};
use crate::api_keys::ExportReader;
use crate::clock::Clock;
use crate::db::Db;
use crate::error::{AppResult, FieldError};
use crate::openapi::responses::Invalid;

type Problem = crate::error::Problem;

crate::http::operations!(
    /// The engagement export.
    ExportsApi { engagement }, components(schemas(EngagementRow))
);

/// Engagement export (HR, admins, or an API key with the `exports` scope).
#[utoipa::path(
    tag = "hr", operation_id = "export_engagement",
    description = include_str!("../../docs/exports.md"),
    security(("bearer" = [])),
    params(EngagementParams),
    responses(
        (status = 200, description = "The export, streamed. Content-Disposition names a file with the organisation's slug and the range; `X-Pseudonymised` says `no`, `requested` or `organisation-setting` (pseudonymised although not asked for, because the organisation's `pseudonymised_exports_only` is on).",
            content(
                (String = "text/csv"),
                (EngagementRow = "application/x-ndjson"),
                (Vec<EngagementRow> = "application/json"),
            ),
            headers(
                ("Content-Disposition" = String, description = "`attachment` with a file name holding the organisation's slug, the range and the format's extension"),
                ("X-Pseudonymised" = String, description = "`no`, `requested` or `organisation-setting`"),
            )),
        (status = 401, description = "No valid access token, or an unknown or revoked API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not HR or an admin, or an API key without the exports scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such team, or no such company value (`value_id`), in your organisation", body = Problem, content_type = "application/problem+json"),
        Invalid,
        (status = 429, description = "The organisation already runs as many exports as `export_concurrency_per_organisation` allows (across every server process); `Retry-After` says when to try again", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Every export connection (`export_pool_size`) is busy, or the database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/exports/engagement")]
pub async fn engagement(
    db: &State<Db>,
    clock: &State<Clock>,
    pool: &State<ExportPool>,
    reader: ExportReader,
    accept: Option<&Accept>,
    origin: &Origin<'_>,
) -> AppResult<ExportResponse> {
    let mut errors: Vec<FieldError> = Vec::new();
    let raw = RawParams::collect(
        origin.query().map(|q| q.segments()).into_iter().flatten(),
        &mut errors,
    );
    start::start(
        db,
        clock,
        pool,
        reader.0,
        raw,
        accepted_formats(accept),
        errors,
    )
    .await
}

/// The formats `Accept` asks for, most preferred first (by q, then order).
fn accepted_formats(accept: Option<&Accept>) -> Vec<Format> {
    let Some(accept) = accept else {
        return Vec::new();
    };
    let mut weighted: Vec<(f32, Format)> = accept
        .iter()
        .filter_map(|q| {
            let mt = q.media_type();
            Format::from_media_type(mt.top().as_str(), mt.sub().as_str())
                .map(|f| (q.weight_or(1.0), f))
        })
        .filter(|(w, _)| *w > 0.0)
        .collect();
    weighted.sort_by(|a, b| b.0.total_cmp(&a.0));
    weighted.into_iter().map(|(_, f)| f).collect()
}
