//! Engagement exports for HR: per member or team and period, streamed as CSV, NDJSON or JSON.
//!
//! `routes` takes the request; `start` checks it, takes a slot and audits the export; `params`
//! checks and resolves the query; `batch` and `queries` read one batch at a time; `render`
//! encodes rows (CSV safe for spreadsheets, pseudonyms); `stream` ties them into a response
//! body that never holds more than one batch. `docs/exports.md` is the reference.

pub mod batch;
pub mod limits;
pub mod params;
pub mod queries;
pub mod render;
pub mod routes;
pub mod start;
pub mod stream;

use rocket::http::{ContentType, Header};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

pub use routes::{ExportsApi, routes};
use stream::Body;

use crate::vocabulary::vocabulary;

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
    granularity: Option<params::Granularity>,
    /// `member` (default): one row per member and period; `team`: one row per team and period.
    #[param(inline)]
    group_by: Option<params::GroupBy>,
    /// Only this team (an id): its current members, or its team rows.
    team: Option<Uuid>,
    /// A company value's id (active or not; another organisation's, or none: 404). Narrows
    /// `recognitions_given`, `recognitions_received` and `recognitions_by_value` to the
    /// recognitions carrying the value, and `points_earned` to the points those recognitions
    /// paid (boosts included, reversals subtracted: the value's boards). It does not narrow
    /// initiatives, `active`, `members`, `active_members`, KPIs or which rows there are.
    value_id: Option<Uuid>,
    /// `csv`, `ndjson` or `json`; wins over `Accept`. Default: from `Accept`, else `csv`.
    #[param(inline)]
    format: Option<params::Format>,
    /// `true`: pseudonyms instead of member ids, names and emails, and small groups suppressed.
    /// Ignored (always `true`) when the organisation's `pseudonymised_exports_only` is on.
    pseudonymise: Option<bool>,
    /// CSV only: start with a UTF-8 byte order mark so spreadsheets read UTF-8 (default
    /// `true`); `false` for plain RFC 4180 readers.
    bom: Option<bool>,
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
    /// Recognitions given in the period (with `value_id`, those carrying the value).
    recognitions_given: i64,
    /// Recognitions received in the period (team rows: one per recipient in the team; with
    /// `value_id`, those carrying the value).
    recognitions_received: i64,
    /// Sum of ledger points in the period, reversals and adjustments included (with
    /// `value_id`, only the points paid for recognitions carrying the value, and their
    /// reversals).
    points_earned: i64,
    /// Member rows: any activity in the period (all of it, whatever `value_id`).
    active: Option<bool>,
    csat: Option<f64>,
    nps: Option<f64>,
    ces: Option<f64>,
    fcr: Option<f64>,
    /// Organisation-defined KPIs: `{"name": value}` (`name=value;...` in CSV).
    #[schema(value_type = std::collections::BTreeMap<String, f64>)]
    other_kpis: serde_json::Value,
    /// Recognitions received in the period per company value, by the value's hashtag (as
    /// stored, without `#`): every active value (0 when none), and any inactive one with a
    /// count. Team rows count a recognition naming several of the team's members once. With
    /// `value_id`, only recognitions carrying that value (keyed too, even inactive), so the
    /// other keys say which values came with it. `hashtag=count;...` in CSV.
    #[schema(value_type = std::collections::BTreeMap<String, i64>)]
    recognitions_by_value: serde_json::Value,
}

/// The export response: headers first, then the body as it is produced.
pub struct ExportResponse {
    content_type: ContentType,
    filename: String,
    pseudonymised: Pseudonymised,
    body: Body,
}

vocabulary!(
    /// Whether, and why, an export is pseudonymised: the `X-Pseudonymised` header.
    Pseudonymised {
        No = "no",
        /// The client asked for it.
        Requested = "requested",
        /// The organisation's `pseudonymised_exports_only` setting imposed it.
        OrganisationSetting = "organisation-setting",
    }
);

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
