//! Badges: defined per organisation with a criterion over the data, awarded once, at the moment
//! the criterion is met, with a ledger entry when the badge carries points.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{AppError, AppResult, FieldError};
use crate::events::{Happened, Kind, SubjectType};
use crate::http::check;
use crate::ledger::{Credit, Reason, SourceType};
use crate::schema::{badges, member_badges};
use crate::validation;
use crate::vocabulary::{Dimension, vocabulary};

vocabulary!(
    /// What earns a badge.
    Criterion {
        /// `threshold` approved initiatives (approved, implemented or measured); in `dimension`
        /// only, when set.
        InitiativesApproved = "initiatives_approved",
        /// `threshold` approved initiatives in one CX dimension (`dimension`, or any one).
        InitiativesInOneDimension = "initiatives_in_one_dimension",
        /// `threshold` initiatives with a measured outcome.
        InitiativesMeasured = "initiatives_measured",
        /// Recognised `threshold` times.
        RecognitionsReceived = "recognitions_received",
        /// Recognised colleagues `threshold` times.
        RecognitionsGiven = "recognitions_given",
        /// Active `threshold` weeks in a row (see streaks).
        WeeklyStreak = "weekly_streak",
        /// Contributed to `threshold` approved initiatives of teams other than one's own.
        CrossTeamContributions = "cross_team_contributions",
        /// `threshold` lifetime points.
        LifetimePoints = "lifetime_points",
        /// Awarded by completing a challenge that names it.
        Challenge = "challenge",
    }
);

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Badge {
    pub id: Uuid,
    pub key: String,
    pub name: String,
    pub description: String,
    pub criterion: Criterion,
    pub threshold: i32,
    pub dimension: Option<Dimension>,
    /// Points granted with the badge.
    pub points: i32,
    /// Inactive badges are no longer awarded; awarded ones stay.
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = badges)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct BadgeRow {
    pub id: Uuid,
    pub key: String,
    pub name: String,
    pub description: String,
    pub criterion: String,
    pub threshold: i32,
    pub dimension: Option<String>,
    pub points: i32,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

impl BadgeRow {
    pub fn into_badge(self) -> AppResult<Badge> {
        Ok(Badge {
            criterion: Criterion::parse(&self.criterion).ok_or_else(|| {
                AppError::internal(format!("unknown badge criterion {}", self.criterion))
            })?,
            dimension: self
                .dimension
                .as_deref()
                .and_then(|d| Dimension::parse_field(d, "dimension").ok()),
            id: self.id,
            key: self.key,
            name: self.name,
            description: self.description,
            threshold: self.threshold,
            points: self.points,
            active: self.active,
            created_at: self.created_at,
        })
    }
}

/// A badge a member holds.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AwardedBadge {
    #[serde(flatten)]
    pub badge: Badge,
    pub awarded_at: DateTime<Utc>,
}

/// Award a badge unless the member holds it. Returns the credit for its points when this call
/// is the one that awarded it (concurrent awards of one badge meet on the primary key); the
/// caller writes it with the rest of its transaction's points.
pub async fn award(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
    badge: Uuid,
    points: i32,
) -> AppResult<Option<Credit>> {
    let inserted = diesel::insert_into(member_badges::table)
        .values((
            member_badges::organisation_id.eq(org),
            member_badges::badge_id.eq(badge),
            member_badges::member_id.eq(member),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    if inserted == 1 {
        // Told whatever it pays: a badge without points is earned all the same.
        let earned = Happened::new(Kind::BadgeEarned, SubjectType::Badge, badge)
            .to([member])
            .data(serde_json::json!({ "points": points }));
        crate::events::emit(conn, org, &[earned]).await?;
    }
    Ok((inserted == 1 && points > 0)
        .then(|| Credit::new(member, points, Reason::Badge).source(SourceType::Badge, badge)))
}

pub async fn of_member(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
) -> AppResult<Vec<AwardedBadge>> {
    let rows: Vec<(BadgeRow, DateTime<Utc>)> = member_badges::table
        .inner_join(
            badges::table.on(badges::id
                .eq(member_badges::badge_id)
                .and(badges::organisation_id.eq(member_badges::organisation_id))),
        )
        .filter(member_badges::organisation_id.eq(org))
        .filter(member_badges::member_id.eq(member))
        .order((member_badges::awarded_at, badges::key))
        .select((BadgeRow::as_select(), member_badges::awarded_at))
        .load(conn)
        .await?;
    rows.into_iter()
        .map(|(b, awarded_at)| {
            Ok(AwardedBadge {
                badge: b.into_badge()?,
                awarded_at,
            })
        })
        .collect()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBadge {
    /// A stable handle: lower-case letters, digits and underscores.
    pub key: String,
    pub name: String,
    pub description: Option<String>,
    pub criterion: Criterion,
    /// How many (initiatives, recognitions, weeks, points) it takes; 1 by default.
    pub threshold: Option<i32>,
    pub dimension: Option<Dimension>,
    /// Points granted with it; 0 by default.
    pub points: Option<i32>,
}

/// A checked badge definition.
pub struct NewBadge {
    key: String,
    name: String,
    description: String,
    criterion: Criterion,
    threshold: i32,
    dimension: Option<Dimension>,
    points: i32,
}

impl NewBadge {
    pub fn parse(req: CreateBadge) -> AppResult<NewBadge> {
        let mut errors = Vec::new();
        let key = req.key.trim().to_string();
        if key.is_empty()
            || key.len() > 64
            || !key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            errors.push(FieldError::new(
                "key",
                "must be 1-64 lower-case letters, digits or underscores",
            ));
        }
        let name = validation::text("name", &req.name, 100, &mut errors);
        let description = req
            .description
            .map(|d| validation::long_text("description", &d, 500, false, &mut errors))
            .unwrap_or_default();
        let threshold = req.threshold.unwrap_or(1);
        if !(1..=1_000_000).contains(&threshold) {
            errors.push(FieldError::new(
                "threshold",
                "must be between 1 and 1000000",
            ));
        }
        let points = req.points.unwrap_or(0);
        if !(0..=100_000).contains(&points) {
            errors.push(FieldError::new("points", "must be between 0 and 100000"));
        }
        if req.dimension.is_some()
            && !matches!(
                req.criterion,
                Criterion::InitiativesApproved | Criterion::InitiativesInOneDimension
            )
        {
            errors.push(FieldError::new(
                "dimension",
                "applies only to initiative criteria",
            ));
        }
        check(errors)?;
        Ok(NewBadge {
            key,
            name,
            description,
            criterion: req.criterion,
            threshold,
            dimension: req.dimension,
            points,
        })
    }
}

/// Defines a badge; its key is unique in the organisation.
pub async fn create(conn: &mut AsyncPgConnection, org: Uuid, new: NewBadge) -> AppResult<Badge> {
    let NewBadge {
        key,
        name,
        description,
        criterion,
        threshold,
        dimension,
        points,
    } = new;
    let row: BadgeRow = diesel::insert_into(badges::table)
        .values((
            badges::organisation_id.eq(org),
            badges::key.eq(&key),
            badges::name.eq(name),
            badges::description.eq(description),
            badges::criterion.eq(criterion.as_str()),
            badges::threshold.eq(threshold),
            badges::dimension.eq(dimension.map(|d| d.as_str())),
            badges::points.eq(points),
        ))
        .returning(BadgeRow::as_returning())
        .get_result(conn)
        .await
        .map_err(|e| match AppError::from(e) {
            AppError::Conflict { .. } => {
                AppError::conflict(format!("a badge with key {key} already exists"))
            }
            other => other,
        })?;
    row.into_badge()
}

#[derive(Debug, Deserialize, ToSchema, Default)]
// Every field is optional (a PATCH changes what it names): documented as not required.
#[serde(deny_unknown_fields, default)]
pub struct UpdateBadge {
    pub name: Option<String>,
    pub description: Option<String>,
    /// Applies to awards from now on.
    pub points: Option<i32>,
    /// Inactive badges are no longer awarded (awarded ones stay).
    pub active: Option<bool>,
}

/// A checked badge change: what it names, each valid.
pub struct BadgeChange {
    name: Option<String>,
    description: Option<String>,
    points: Option<i32>,
    active: Option<bool>,
}

impl BadgeChange {
    pub fn parse(req: UpdateBadge) -> AppResult<BadgeChange> {
        let mut errors = Vec::new();
        let name = req
            .name
            .map(|n| validation::text("name", &n, 100, &mut errors));
        let description = req
            .description
            .map(|d| validation::long_text("description", &d, 500, false, &mut errors));
        if req.points.is_some_and(|p| !(0..=100_000).contains(&p)) {
            errors.push(FieldError::new("points", "must be between 0 and 100000"));
        }
        check(errors)?;
        Ok(BadgeChange {
            name,
            description,
            points: req.points,
            active: req.active,
        })
    }
}

/// Changes a badge's name, description, points or activity; a change naming nothing answers
/// the badge as it is.
pub async fn update(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
    change: BadgeChange,
) -> AppResult<Badge> {
    let BadgeChange {
        name,
        description,
        points,
        active,
    } = change;
    if name.is_none() && description.is_none() && points.is_none() && active.is_none() {
        // Nothing to change (`{}`): answer the badge as it is; an empty UPDATE is an error.
        let row: BadgeRow = badges::table
            .filter(badges::organisation_id.eq(org))
            .filter(badges::id.eq(id))
            .select(BadgeRow::as_select())
            .first(conn)
            .await
            .optional()?
            .ok_or_else(|| AppError::not_found("badge"))?;
        return row.into_badge();
    }
    let row: BadgeRow = diesel::update(
        badges::table
            .filter(badges::organisation_id.eq(org))
            .filter(badges::id.eq(id)),
    )
    .set((
        name.map(|v| badges::name.eq(v)),
        description.map(|v| badges::description.eq(v)),
        points.map(|v| badges::points.eq(v)),
        active.map(|v| badges::active.eq(v)),
    ))
    .returning(BadgeRow::as_returning())
    .get_result(conn)
    .await
    .optional()?
    .ok_or_else(|| AppError::not_found("badge"))?;
    row.into_badge()
}
