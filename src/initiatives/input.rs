//! What a client sends about initiatives, and its parsing: every offending field is named in
//! one 422.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use diesel_async::AsyncPgConnection;
use rocket::form::FromForm;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::InitiativeStatus;
use super::lifecycle::{Edit, Measurement, NewInitiative};
use super::listing::{After, ListFilter, Sort};
use super::queries;
use crate::auth::{Caller, Role};
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldError};
use crate::http::{Cursor, check, page_limit, uuid_param};
use crate::validation::{self, long_text, optional_text, parsed, rating, required};
use crate::vocabulary::{Channel, Dimension, JourneyStage, vocabulary};
use crate::{organisations, periods};

pub const MAX_TITLE: usize = 200;
pub const MAX_DESCRIPTION: usize = 10_000;
pub const MAX_CUSTOMER_REFERENCE: usize = 500;
pub const MAX_CONTRIBUTORS: usize = 50;
pub const MAX_NOTE: usize = 2000;
pub const MAX_KPI: usize = 100;
pub const MAX_UNIT: usize = 50;

/// Log a win. Every field but `contributors` and `customer_reference` is required; all missing
/// or invalid fields are reported at once.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInitiative {
    /// 1-200 characters.
    #[schema(required = true, value_type = String)]
    pub title: Option<String>,
    /// What was done or is proposed, and why it helps the customer (up to 10000 characters;
    /// line breaks allowed).
    #[schema(required = true, value_type = String)]
    pub description: Option<String>,
    #[schema(required = true, value_type = Dimension)]
    pub dimension: Option<String>,
    #[schema(required = true, value_type = Channel)]
    pub channel: Option<String>,
    #[schema(required = true, value_type = JourneyStage)]
    pub journey_stage: Option<String>,
    /// Value for the customer, 1-5.
    #[schema(required = true, value_type = i32, minimum = 1, maximum = 5)]
    pub customer_value: Option<i64>,
    /// Value for the organisation, 1-5.
    #[schema(required = true, value_type = i32, minimum = 1, maximum = 5)]
    pub organisation_value: Option<i64>,
    /// Ease of implementation, 1-5 (5 = easiest).
    #[schema(required = true, value_type = i32, minimum = 1, maximum = 5)]
    pub ease: Option<i64>,
    /// Other members who helped, from any team of the organisation (at most 50, not yourself).
    pub contributors: Option<Vec<Uuid>>,
    /// A reference to the customer case, ticket or conversation (up to 500 characters).
    pub customer_reference: Option<String>,
}

/// Change a submitted initiative (its author). Absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditInitiative {
    pub title: Option<String>,
    pub description: Option<String>,
    #[schema(value_type = Option<Dimension>)]
    pub dimension: Option<String>,
    #[schema(value_type = Option<Channel>)]
    pub channel: Option<String>,
    #[schema(value_type = Option<JourneyStage>)]
    pub journey_stage: Option<String>,
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 5)]
    pub customer_value: Option<i64>,
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 5)]
    pub organisation_value: Option<i64>,
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 5)]
    pub ease: Option<i64>,
    /// `null` or an empty string clears it.
    #[serde(default, deserialize_with = "validation::present")]
    #[schema(value_type = Option<String>)]
    pub customer_reference: Option<Option<String>>,
    /// Replaces the contributors (`[]` removes them all).
    pub contributors: Option<Vec<Uuid>>,
}

/// Approve an initiative. Send `{}` for no note.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Approve {
    /// For the author: why, or what to do next (up to 2000 characters).
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decline {
    /// Why it is declined (1-2000 characters); the author sees it on the timeline.
    pub reason: String,
}

/// Mark an initiative implemented. Send `{}` for no note.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Implement {
    /// What was rolled out, where (up to 2000 characters).
    pub note: Option<String>,
}

/// The outcome of an implemented initiative. All fields but `note` are required.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Measure {
    /// The KPI it moved, e.g. CSAT, NPS, CES (1-100 characters).
    #[schema(required = true, value_type = String)]
    pub kpi: Option<String>,
    /// The KPI's unit, e.g. `%` or `points` (up to 50 characters; may be empty).
    #[schema(required = true, value_type = String)]
    pub unit: Option<String>,
    /// The KPI before the initiative.
    #[schema(required = true, value_type = f64)]
    pub baseline: Option<f64>,
    /// The KPI after it.
    #[schema(required = true, value_type = f64)]
    pub result: Option<f64>,
    /// When the result was measured: an RFC 3339 timestamp, not in the future.
    #[schema(required = true, value_type = String, format = DateTime)]
    pub measured_at: Option<String>,
    /// How it was measured, or anything else worth knowing (up to 2000 characters).
    pub note: Option<String>,
}

#[derive(Debug, FromForm, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `mine` (default: initiatives you authored), `team` (a team's: team leads their own,
    /// HR and admins any team via `team_id`), or `organisation` (HR and admins).
    #[param(value_type = Option<ListScope>, inline)]
    pub scope: Option<String>,
    /// With `scope=team`, the team (team leads: only their own; HR and admins: any, default
    /// their own). With other scopes, only initiatives submitted from this team.
    #[param(value_type = Option<Uuid>)]
    pub team_id: Option<String>,
    /// submitted, approved, declined, implemented or measured.
    #[param(value_type = Option<InitiativeStatus>)]
    pub status: Option<String>,
    /// A CX dimension, e.g. `empathy`.
    #[param(value_type = Option<Dimension>)]
    pub dimension: Option<String>,
    /// A channel, e.g. `phone`.
    #[param(value_type = Option<Channel>)]
    pub channel: Option<String>,
    /// before, during or after.
    #[param(value_type = Option<JourneyStage>)]
    pub journey_stage: Option<String>,
    /// Only initiatives by this member.
    #[param(value_type = Option<Uuid>)]
    pub author_id: Option<String>,
    /// Created at or after: an RFC 3339 timestamp, or a date (YYYY-MM-DD: the start of that
    /// day in the organisation's time zone).
    pub from: Option<String>,
    /// Created before (exclusive): an RFC 3339 timestamp or a date, as `from`.
    pub to: Option<String>,
    /// `newest` (default) or `priority` (highest first, then newest).
    #[param(value_type = Option<Sort>, inline)]
    pub sort: Option<String>,
    /// Page size, 1-200 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page (with the same `sort`).
    pub cursor: Option<String>,
}

fn contributors(list: Vec<Uuid>, errors: &mut Vec<FieldError>) -> Vec<Uuid> {
    if list.len() > MAX_CONTRIBUTORS {
        errors.push(FieldError::new(
            "contributors",
            format!("at most {MAX_CONTRIBUTORS} contributors"),
        ));
    }
    list
}

pub(super) fn note(raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<String> {
    optional_text("note", raw, MAX_NOTE, errors)
}

/// Validate what needs no database; `None` (or errors) when something is wrong.
pub(super) fn validate_create(
    req: CreateInitiative,
    e: &mut Vec<FieldError>,
) -> Option<NewInitiative> {
    let title =
        required("title", req.title, e).map(|t| validation::text("title", &t, MAX_TITLE, e));
    let description = required("description", req.description, e)
        .map(|d| long_text("description", &d, MAX_DESCRIPTION, false, e));
    let dimension = required("dimension", req.dimension, e)
        .and_then(|d| parsed(Dimension::parse_field(&d, "dimension"), e));
    let channel = required("channel", req.channel, e)
        .and_then(|c| parsed(Channel::parse_field(&c, "channel"), e));
    let journey_stage = required("journey_stage", req.journey_stage, e)
        .and_then(|j| parsed(JourneyStage::parse_field(&j, "journey_stage"), e));
    let customer_value = required("customer_value", req.customer_value, e)
        .and_then(|v| rating("customer_value", v, e));
    let organisation_value = required("organisation_value", req.organisation_value, e)
        .and_then(|v| rating("organisation_value", v, e));
    let ease = required("ease", req.ease, e).and_then(|v| rating("ease", v, e));
    let customer_reference = optional_text(
        "customer_reference",
        req.customer_reference.as_deref(),
        MAX_CUSTOMER_REFERENCE,
        e,
    );
    let contributors = contributors(req.contributors.unwrap_or_default(), e);
    Some(NewInitiative {
        title: title?,
        description: description?,
        dimension: dimension?,
        channel: channel?,
        journey_stage: journey_stage?,
        customer_value: customer_value?,
        organisation_value: organisation_value?,
        ease: ease?,
        customer_reference,
        contributors,
    })
}

/// The 422 for an invalid body, with the contributors checked against the database too, so
/// that one answer names every offending field. (Valid bodies have their contributors checked
/// inside the write's transaction.)
pub(super) async fn refuse(
    db: &Db,
    caller: &Caller,
    contributors: &[Uuid],
    mut errors: Vec<FieldError>,
) -> AppError {
    if !contributors.is_empty() {
        let checked = match db.conn().await {
            Ok(mut conn) => {
                queries::check_contributors(
                    &mut conn,
                    caller.organisation_id,
                    caller.member_id,
                    contributors,
                    &mut errors,
                )
                .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = checked {
            return e;
        }
    }
    if errors.is_empty() {
        return AppError::internal("validated input is incomplete");
    }
    AppError::Validation(errors)
}

pub(super) fn validate_edit(req: EditInitiative, e: &mut Vec<FieldError>) -> Edit {
    let edit = Edit {
        title: req
            .title
            .map(|t| validation::text("title", &t, MAX_TITLE, e)),
        description: req
            .description
            .map(|d| long_text("description", &d, MAX_DESCRIPTION, false, e)),
        dimension: req
            .dimension
            .and_then(|d| parsed(Dimension::parse_field(&d, "dimension"), e)),
        channel: req
            .channel
            .and_then(|c| parsed(Channel::parse_field(&c, "channel"), e)),
        journey_stage: req
            .journey_stage
            .and_then(|j| parsed(JourneyStage::parse_field(&j, "journey_stage"), e)),
        customer_value: req
            .customer_value
            .and_then(|v| rating("customer_value", v, e)),
        organisation_value: req
            .organisation_value
            .and_then(|v| rating("organisation_value", v, e)),
        ease: req.ease.and_then(|v| rating("ease", v, e)),
        customer_reference: req.customer_reference.map(|r| {
            optional_text(
                "customer_reference",
                r.as_deref(),
                MAX_CUSTOMER_REFERENCE,
                e,
            )
        }),
        contributors: req.contributors.map(|c| contributors(c, e)),
    };
    if e.is_empty() && edit.fields().is_empty() {
        e.push(FieldError::new("body", "name at least one field to change"));
    }
    edit
}

pub(super) fn validate_measure(
    req: Measure,
    now: DateTime<Utc>,
) -> AppResult<(Measurement, Option<String>)> {
    let mut e = Vec::new();
    let kpi =
        required("kpi", req.kpi, &mut e).map(|k| validation::text("kpi", &k, MAX_KPI, &mut e));
    let unit = required("unit", req.unit, &mut e).map(|u| {
        let u = u.trim().to_string();
        if u.chars().count() > MAX_UNIT {
            e.push(FieldError::new(
                "unit",
                format!("must be at most {MAX_UNIT} characters"),
            ));
        } else if u.chars().any(char::is_control) {
            e.push(FieldError::new(
                "unit",
                "must not contain control characters",
            ));
        }
        u
    });
    let number = |field: &str, v: Option<f64>, e: &mut Vec<FieldError>| {
        required(field, v, e).filter(|n| {
            let finite = n.is_finite();
            if !finite {
                e.push(FieldError::new(field, "must be a finite number"));
            }
            finite
        })
    };
    let baseline = number("baseline", req.baseline, &mut e);
    let result = number("result", req.result, &mut e);
    let measured_at = required("measured_at", req.measured_at, &mut e).and_then(|raw| {
        match DateTime::parse_from_rfc3339(raw.trim()) {
            Ok(t) if t.with_timezone(&Utc) > now + Duration::minutes(1) => {
                e.push(FieldError::new("measured_at", "must not be in the future"));
                None
            }
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                e.push(FieldError::new(
                    "measured_at",
                    "must be an RFC 3339 timestamp such as 2026-05-01T12:00:00Z",
                ));
                None
            }
        }
    });
    let note = note(req.note.as_deref(), &mut e);
    let outcome = (|| {
        Some(Measurement {
            kpi: kpi?,
            unit: unit?,
            baseline: baseline?,
            result: result?,
            measured_at: measured_at?,
        })
    })();
    check(e)?;
    let outcome = outcome.ok_or_else(|| AppError::internal("validated outcome is incomplete"))?;
    Ok((outcome, note))
}

/// Where a list's bound came from: an instant, or a local date resolved in the organisation's
/// time zone.
enum Bound {
    At(DateTime<Utc>),
    Day(NaiveDate),
}

fn bound(field: &str, raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<Bound> {
    let raw = raw?.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(Bound::At(t.with_timezone(&Utc)));
    }
    if let Ok(d) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Some(Bound::Day(d));
    }
    errors.push(FieldError::new(
        field,
        "must be an RFC 3339 timestamp (2026-05-01T12:00:00Z) or a date (2026-05-01)",
    ));
    None
}

vocabulary!(
    /// Values of `scope` (the list reads it as text so a bad value is named).
    ListScope {
        Mine = "mine",
        Team = "team",
        Organisation = "organisation",
    } field = "scope"
);

/// Narrow `filter` to what `scope` shows `caller`, or refuse.
fn apply_scope(
    caller: &Caller,
    scope: ListScope,
    team_param: Option<Uuid>,
    filter: &mut ListFilter,
) -> AppResult<()> {
    match scope {
        ListScope::Mine => {
            filter.team_id = team_param;
            if filter.author_id.is_some_and(|a| a != caller.member_id) {
                // "Mine" by someone else is nothing; say so rather than answer an empty list.
                return Err(AppError::invalid(
                    "author_id",
                    "with scope=mine, only your own id; use scope=team or scope=organisation",
                ));
            }
            filter.author_id = Some(caller.member_id);
        }
        ListScope::Team => {
            filter.team_id = Some(match caller.role {
                Role::Employee => {
                    return Err(AppError::Forbidden(
                        "team lists are for team leads, HR and admins; use scope=mine".into(),
                    ));
                }
                Role::TeamLead => match (team_param, caller.team_id) {
                    (Some(asked), Some(own)) if asked == own => own,
                    (None, Some(own)) => own,
                    (Some(_), Some(_)) => {
                        return Err(AppError::Forbidden(
                            "team leads may list only their own team's initiatives".into(),
                        ));
                    }
                    (_, None) => {
                        return Err(AppError::Forbidden(
                            "you are not on a team, so you have no team's initiatives to list"
                                .into(),
                        ));
                    }
                },
                Role::Hr | Role::Admin => team_param.or(caller.team_id).ok_or_else(|| {
                    AppError::invalid(
                        "team_id",
                        "is required with scope=team: you are not on a team yourself",
                    )
                })?,
            });
        }
        ListScope::Organisation => {
            if !caller.is_any(&[Role::Hr, Role::Admin]) {
                return Err(AppError::Forbidden(
                    "only HR and admins may list the whole organisation's initiatives".into(),
                ));
            }
            filter.team_id = team_param;
        }
    }
    Ok(())
}

/// A parsed [`ListParams`], narrowed to what the caller may see.
pub struct ListQuery {
    filter: ListFilter,
    from: Option<Bound>,
    to: Option<Bound>,
    pub sort: Sort,
    pub after: Option<After>,
    pub limit: i64,
}

impl ListQuery {
    /// Every invalid parameter in one 422; then 403 (or 422) for a scope not the caller's.
    pub fn parse(params: &ListParams, caller: &Caller) -> AppResult<ListQuery> {
        let mut e = Vec::new();
        let scope = ListScope::param(
            params.scope.as_deref().map(str::trim),
            ListScope::Mine,
            &mut e,
        );
        let sort = Sort::param(params.sort.as_deref().map(str::trim), Sort::Newest, &mut e);
        let team_param = uuid_param("team_id", params.team_id.as_deref(), &mut e);
        let mut filter = ListFilter {
            author_id: uuid_param("author_id", params.author_id.as_deref(), &mut e),
            status: params.status.as_deref().and_then(|s| {
                match InitiativeStatus::parse(s.trim()) {
                    Some(s) => Some(s),
                    None => {
                        e.push(FieldError::new(
                            "status",
                            "must be one of submitted, approved, declined, implemented, measured",
                        ));
                        None
                    }
                }
            }),
            dimension: params
                .dimension
                .as_deref()
                .and_then(|d| parsed(Dimension::parse_field(d.trim(), "dimension"), &mut e)),
            channel: params
                .channel
                .as_deref()
                .and_then(|c| parsed(Channel::parse_field(c.trim(), "channel"), &mut e)),
            journey_stage: params
                .journey_stage
                .as_deref()
                .and_then(|j| parsed(JourneyStage::parse_field(j.trim(), "journey_stage"), &mut e)),
            ..ListFilter::default()
        };
        let from = bound("from", params.from.as_deref(), &mut e);
        let to = bound("to", params.to.as_deref(), &mut e);
        let limit = page_limit(params.limit.as_deref(), &mut e);
        let cursor = Cursor::decode(params.cursor.as_deref(), &mut e);
        let after = match (sort, cursor) {
            (Some(sort), Some(c)) => sort.after(&c, &mut e),
            _ => None,
        };
        check(e)?;
        let (Some(scope), Some(sort)) = (scope, sort) else {
            return Err(AppError::internal(
                "validated list parameters are incomplete",
            ));
        };
        apply_scope(caller, scope, team_param, &mut filter)?;
        Ok(ListQuery {
            filter,
            from,
            to,
            sort,
            after,
            limit,
        })
    }

    /// The filter, its dates resolved as days in the organisation's time zone.
    pub async fn filter(self, conn: &mut AsyncPgConnection, org: Uuid) -> AppResult<ListFilter> {
        let ListQuery {
            mut filter,
            from,
            to,
            ..
        } = self;
        // Only dates need the organisation's time zone; only then is it worth looking up.
        let tz = if matches!(from, Some(Bound::Day(_))) || matches!(to, Some(Bound::Day(_))) {
            periods::parse_tz(&organisations::find(conn, org).await?.time_zone)
        } else {
            chrono_tz::Tz::UTC
        };
        let resolve = |b: Bound| match b {
            Bound::At(t) => t,
            Bound::Day(d) => periods::start_of_day(tz, d),
        };
        filter.from = from.map(resolve);
        filter.to = to.map(resolve);
        if let (Some(f), Some(t)) = (filter.from, filter.to)
            && f >= t
        {
            return Err(AppError::invalid("to", "must be after from"));
        }
        Ok(filter)
    }
}
