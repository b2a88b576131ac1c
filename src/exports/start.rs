//! Starting an export: the query resolved in the organisation's time zone, a slot taken, the
//! export audited, and the stream planned.

use rocket::http::ContentType;

use super::batch::Plan;
use super::limits::{self, ExportPool};
use super::params::{self, Format, GroupBy, RawParams};
use super::stream::{Body, Exporter};
use super::{ExportResponse, Pseudonymised};
use crate::api_keys::Principal;
use crate::audit::{self, Action};
use crate::clock::Clock;
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldError};
use crate::http::check;
use crate::periods;

/// Starts the export `raw` and `formats` (from `Accept`) ask for, for `principal`; `errors`
/// holds what reading the query string already refused, answered with the rest.
pub async fn start(
    db: &Db,
    clock: &Clock,
    pool: &ExportPool,
    principal: Principal,
    raw: RawParams,
    formats: Vec<Format>,
    mut errors: Vec<FieldError>,
) -> AppResult<ExportResponse> {
    let org = principal.organisation_id;
    let mut conn = db.conn().await?;
    let info = crate::organisations::find(&mut conn, org).await?;
    let tz = periods::parse_tz(&info.time_zone);
    let today = periods::local_date(tz, clock.now());
    let resolved = params::resolve(&raw, &formats, tz, today, &mut errors);
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
    // Inactive values are allowed: HR looks back at history.
    if let Some(value) = resolved.value
        && !crate::values::exists(&mut conn, org, value).await?
    {
        return Err(AppError::not_found("value"));
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
            "value_id": resolved.value,
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
