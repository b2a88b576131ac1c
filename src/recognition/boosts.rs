//! Boosts: any member adds points to someone else's recognition from their own pot (a peer's
//! allowance, a lead's budget; admins unbudgeted), once per recognition. Each recipient gets
//! `points` as a ledger entry of its own (`recognition_boost`, the booster in `created_by`), so
//! boosts count on boards, by value, and are reversed with the recognition.
//!
//! The same race rules as a recognition: the recognition's row lock orders boosts with an undo
//! or a hide, the booster's pot row lock orders their spending, and the primary key
//! (recognition, booster) makes a second boost by one member fail whatever the timing.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::giving::{self, GivingKind};
use super::visibility::Viewer;
use super::{Recognition, Status, queries, take_back};
use crate::error::{AppError, AppResult};
use crate::events::{Happened, Kind, SubjectType};
use crate::ledger::{Credit, Reason, SourceType, rules};
use crate::periods;
use crate::schema::{recognition_boosts, recognition_recipients, recognitions};
use crate::vocabulary::Dimension;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBoost {
    /// Points for each recipient (1 to `max_points_per_recognition`), paid from your pot.
    pub points: i32,
}

/// `viewer` boosts recognition `id` with `points` per recipient, paid from their `kind` of pot;
/// answers the recognition with its boosts.
pub async fn boost(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    viewer: &Viewer,
    kind: GivingKind,
    id: Uuid,
    new: &NewBoost,
    now: DateTime<Utc>,
) -> AppResult<Recognition> {
    let (rules, time_zone) = rules::load_with_time_zone(conn, org).await?;
    if !(1..=rules.max_points_per_recognition).contains(&new.points) {
        return Err(AppError::invalid(
            "points",
            format!(
                "must be between 1 and {} per recipient",
                rules.max_points_per_recognition
            ),
        ));
    }
    let locked = take_back::lock(conn, org, viewer, id).await?;
    if locked.status != Status::Active {
        return Err(AppError::conflict(format!(
            "this recognition is {}: it cannot be boosted",
            locked.status.as_str()
        )));
    }
    if locked.giver_id == Some(viewer.member) {
        return Err(AppError::Forbidden(
            "you cannot boost your own recognition".into(),
        ));
    }
    let recipients: Vec<Uuid> = recognition_recipients::table
        .filter(recognition_recipients::organisation_id.eq(org))
        .filter(recognition_recipients::recognition_id.eq(id))
        .select(recognition_recipients::member_id)
        .load(conn)
        .await?;
    if recipients.contains(&viewer.member) {
        return Err(AppError::Forbidden(
            "you cannot boost a recognition you received".into(),
        ));
    }
    let tz = periods::parse_tz(&time_zone);
    let cost = i64::from(new.points) * recipients.len() as i64;
    let period = giving::spend(conn, org, viewer.member, kind, cost, tz, &rules, now).await?;
    if kind == GivingKind::Peer {
        let today = periods::day_bounds(tz, now);
        let (_, month_start, next_month) = periods::month_bounds(tz, now);
        let given = queries::peer_points_given(
            conn,
            org,
            viewer.member,
            &recipients,
            (month_start, next_month),
        )
        .await?;
        super::domain::check_caps(&recipients, &given, new.points, today.0, &rules)?;
    }
    diesel::insert_into(recognition_boosts::table)
        .values((
            recognition_boosts::organisation_id.eq(org),
            recognition_boosts::recognition_id.eq(id),
            recognition_boosts::booster_id.eq(viewer.member),
            recognition_boosts::kind.eq(kind.as_str()),
            recognition_boosts::points.eq(new.points),
            recognition_boosts::giving_period_start.eq(period),
        ))
        .execute(conn)
        .await
        .map_err(|e| match AppError::from(e) {
            AppError::Conflict { .. } => {
                AppError::conflict("you have already boosted this recognition")
            }
            other => other,
        })?;
    let dimension: Option<String> = recognitions::table
        .filter(recognitions::organisation_id.eq(org))
        .filter(recognitions::id.eq(id))
        .select(recognitions::dimension)
        .first(conn)
        .await?;
    let dimension = dimension
        .as_deref()
        .and_then(|d| Dimension::parse_field(d, "dimension").ok());
    let credits = recipients
        .iter()
        .map(|r| {
            let mut c = Credit::new(*r, new.points, Reason::RecognitionBoost)
                .source(SourceType::Recognition, id)
                .dimension(dimension);
            c.created_by = Some(viewer.member);
            c
        })
        .collect();
    let mut involved = recipients.clone();
    involved.push(viewer.member);
    let boosted = Happened::new(Kind::RecognitionBoosted, SubjectType::Recognition, id)
        .by(viewer.member)
        .to(recipients.iter().copied().chain(locked.giver_id))
        .data(serde_json::json!({ "points": new.points }));
    crate::events::emit(conn, org, &[boosted]).await?;
    crate::gamification::settle(conn, org, &involved, credits).await?;
    queries::load(conn, org, viewer, id).await
}
