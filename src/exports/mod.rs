//! Engagement exports for HR: per member or team and period, streamed as CSV, NDJSON or JSON.
//!
//! `params` checks and resolves the query; `queries` reads one batch at a time; `render`
//! encodes rows (CSV safe for spreadsheets, pseudonyms); `stream` ties them into a response
//! body that never holds more than one batch. `docs/exports.md` is the reference.

pub mod batch;
pub mod limits;
pub mod params;
pub mod queries;
pub mod render;
pub mod stream;

use rocket::State;
use rocket::get;
use rocket::http::uri::Origin;
use rocket::http::{Accept, ContentType, Header};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use serde::Serialize;
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

use crate::api_keys::ExportReader;
use crate::audit::{self, Action};
use crate::clock::Clock;
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldError};
use crate::http::check;
use crate::periods;
use batch::Plan;
use limits::ExportPool;
use params::{Format, GroupBy, RawParams};
use stream::{Body, Exporter};

type Problem = crate::error::Problem;

/// This module's operations, merged into the service's OpenAPI document.
#[derive(OpenApi)]
#[openapi(paths(engagement), components(schemas(EngagementRow)))]
pub struct ExportsApi;

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![engagement]
}

/// The query parameters (documentation; the handler reads the query string itself so that
/// unknown and repeated parameters are refused by name).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct EngagementParams {
    /// First day, `YYYY-MM-DD` in the organisation's time zone; moved back to the start of its
    /// period. Default: 12 periods before `to`.
    #[param(format = Date)]
    from: Option<String>,
    /// Day after the last, `YYYY-MM-DD` local, exclusive; moved forward to a period boundary.
    /// Default: today (the last period is then the one containing yesterday). At most 5
    /// years after `from`.
    #[param(format = Date)]
    to: Option<String>,
    /// `week` (ISO, from Monday), `month` (default) or `quarter`.
    #[param(inline)]
    granularity: Option<GranularityParam>,
    /// `member` (default): one row per member and period; `team`: one row per team and period.
    #[param(inline)]
    group_by: Option<GroupByParam>,
    /// Only this team (an id): its current members, or its team rows.
    team: Option<Uuid>,
    /// `csv`, `ndjson` or `json`; wins over `Accept`. Default: from `Accept`, else `csv`.
    #[param(inline)]
    format: Option<FormatParam>,
    /// `true`: pseudonyms instead of member ids, names and emails, and small groups suppressed.
    /// Ignored (always `true`) when the organisation's `pseudonymised_exports_only` is on.
    pseudonymise: Option<bool>,
    /// CSV only: start with a UTF-8 byte order mark so spreadsheets read UTF-8 (default
    /// `true`); `false` for plain RFC 4180 readers.
    bom: Option<bool>,
}

/// Values of `granularity` (documentation).
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum GranularityParam {
    Week,
    Month,
    Quarter,
}

/// Values of `group_by` (documentation).
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum GroupByParam {
    Member,
    Team,
}

/// Values of `format` (documentation).
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum FormatParam {
    Csv,
    Ndjson,
    Json,
}

/// One row of the export (JSON and NDJSON; the CSV header has the same names). Which fields a
/// row has depends on `group_by` and `pseudonymise`; see the operation's description.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct EngagementRow {
    /// `2026-W47`, `2026-11` or `2026-Q4`.
    period: String,
    /// First day of the period (local, ISO 8601 date).
    #[schema(format = Date)]
    period_start: String,
    /// First day after the period (local, exclusive).
    #[schema(format = Date)]
    period_end: String,
    /// Member rows, not pseudonymised; null for an erased member.
    member_id: Option<Uuid>,
    /// Member rows, not pseudonymised; `erased member` for an erased member.
    display_name: Option<String>,
    /// Member rows, not pseudonymised; null for an erased member.
    email: Option<String>,
    /// Member rows, pseudonymised: `P-` and 16 hex digits, stable within this export only.
    pseudonym: Option<String>,
    /// The member's current team (member rows) or the team (team rows); null when suppressed.
    team_id: Option<Uuid>,
    /// `suppressed` in pseudonymised member rows of teams below the minimum group size.
    team_name: Option<String>,
    /// Team rows: members in the team at some time during the period.
    members: Option<i64>,
    /// Team rows: of those, members with activity counted for the team.
    active_members: Option<i64>,
    initiatives_submitted: i64,
    initiatives_approved: i64,
    initiatives_implemented: i64,
    initiatives_measured: i64,
    recognitions_given: i64,
    recognitions_received: i64,
    /// Sum of ledger points in the period, reversals and adjustments included.
    points_earned: i64,
    /// Member rows: any activity in the period.
    active: Option<bool>,
    csat: Option<f64>,
    nps: Option<f64>,
    ces: Option<f64>,
    fcr: Option<f64>,
    /// Organisation-defined KPIs: `{"name": value}` (`name=value;...` in CSV).
    #[schema(value_type = std::collections::BTreeMap<String, f64>)]
    other_kpis: serde_json::Value,
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

/// The export response: headers first, then the body as it is produced.
pub struct ExportResponse {
    content_type: ContentType,
    filename: String,
    pseudonymised: Pseudonymised,
    body: Body,
}

/// Whether, and why, an export is pseudonymised: the `X-Pseudonymised` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pseudonymised {
    No,
    /// The client asked for it.
    Requested,
    /// The organisation's `pseudonymised_exports_only` setting imposed it.
    OrganisationSetting,
}

impl Pseudonymised {
    pub fn as_str(self) -> &'static str {
        match self {
            Pseudonymised::No => "no",
            Pseudonymised::Requested => "requested",
            Pseudonymised::OrganisationSetting => "organisation-setting",
        }
    }
}

impl<'r> Responder<'r, 'static> for ExportResponse {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        Response::build()
            .header(self.content_type)
            .header(Header::new(
                "Content-Disposition",
                format!("attachment; filename=\"{}\"", self.filename),
            ))
            .header(Header::new("Cache-Control", "no-store"))
            .header(Header::new("Vary", "Accept"))
            .header(Header::new("X-Content-Type-Options", "nosniff"))
            .header(Header::new("X-Pseudonymised", self.pseudonymised.as_str()))
            .streamed_body(self.body)
            .ok()
    }
}

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
        (status = 404, description = "No such team in your organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A parameter is invalid; `errors` names each one", body = Problem, content_type = "application/problem+json"),
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
    let principal = reader.0;
    let org = principal.organisation_id;
    let mut errors: Vec<FieldError> = Vec::new();
    let raw = RawParams::collect(
        origin.query().map(|q| q.segments()).into_iter().flatten(),
        &mut errors,
    );
    let mut conn = db.conn().await?;
    let info = crate::organisations::find(&mut conn, org).await?;
    let tz = periods::parse_tz(&info.time_zone);
    let today = periods::local_date(tz, clock.now());
    let resolved = params::resolve(&raw, &accepted_formats(accept), tz, today, &mut errors);
    check(errors)?;
    let mut resolved =
        resolved.ok_or_else(|| AppError::internal("export parameters unresolved"))?;
    let pseudonymised = match (resolved.pseudonymise, info.pseudonymised_exports_only) {
        (true, _) => Pseudonymised::Requested,
        (false, true) => Pseudonymised::OrganisationSetting,
        (false, false) => Pseudonymised::No,
    };
    resolved.pseudonymise = pseudonymised != Pseudonymised::No;
    if let Some(team) = resolved.team
        && !crate::teams::exists(&mut conn, org, team).await?
    {
        return Err(AppError::not_found("team"));
    }
    // The slot is taken before the audit entry is written: a refused export is not recorded
    // as one that ran.
    let export_conn = pool.begin(org).await?;
    let audited = audit::record(
        &mut conn,
        org,
        principal.actor,
        Action::Export,
        resolved.team.map(|t| ("team", t)),
        serde_json::json!({
            "export": "engagement",
            "from": resolved.from,
            "to": resolved.to,
            "granularity": resolved.granularity.as_str(),
            "group_by": resolved.group_by.as_str(),
            "team": resolved.team,
            "format": resolved.format.as_str(),
            "pseudonymise": resolved.pseudonymise,
            "pseudonymised": pseudonymised.as_str(),
        }),
    )
    .await;
    drop(conn);
    if let Err(e) = audited {
        limits::discard(export_conn);
        return Err(e);
    }
    let format = resolved.format;
    let filename = format!(
        "engagement-{}-{}-{}{}-{}_{}.{}",
        info.slug,
        match resolved.group_by {
            GroupBy::Member => "members",
            GroupBy::Team => "teams",
        },
        resolved.granularity.as_str(),
        if resolved.pseudonymise {
            "-pseudonymised"
        } else {
            ""
        },
        resolved.from,
        resolved.to,
        format.extension(),
    );
    let content_type = match format {
        Format::Csv => ContentType::new("text", "csv")
            .with_params([("charset", "utf-8"), ("header", "present")]),
        Format::Ndjson => ContentType::new("application", "x-ndjson"),
        Format::Json => ContentType::JSON,
    };
    let plan = Plan {
        organisation_id: org,
        time_zone: info.time_zone,
        min_group_size: i64::from(info.min_group_size),
        params: resolved,
    };
    Ok(ExportResponse {
        content_type,
        filename,
        pseudonymised,
        body: Body::new(Exporter::new(export_conn, plan).into_stream()),
    })
}
