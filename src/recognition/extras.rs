//! What a recognition's view shows beside its names and values: the teams it named, its
//! boosts, and how many comments it shows.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{Boost, MemberRef, TeamRef};
use crate::error::AppResult;
use crate::schema::{members, recognition_boosts, recognition_comments, recognition_teams, teams};

/// What a page of views shows beside names and values, per recognition.
#[derive(Default)]
pub struct Extras {
    pub teams: Vec<TeamRef>,
    pub boosts: Vec<Boost>,
    pub comments: i64,
}

/// The teams, boosts and comment counts of recognitions `ids`, in three queries.
pub async fn of(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    ids: &[Uuid],
) -> AppResult<HashMap<Uuid, Extras>> {
    let mut out: HashMap<Uuid, Extras> = HashMap::new();
    let named_teams: Vec<(Uuid, Uuid, String)> = recognition_teams::table
        .inner_join(teams::table.on(teams::id.eq(recognition_teams::team_id)))
        .filter(recognition_teams::organisation_id.eq(org))
        .filter(recognition_teams::recognition_id.eq_any(ids))
        .order(teams::name)
        .select((recognition_teams::recognition_id, teams::id, teams::name))
        .load(conn)
        .await?;
    for (rid, id, name) in named_teams {
        out.entry(rid).or_default().teams.push(TeamRef { id, name });
    }
    let boosts: Vec<(Uuid, Uuid, String, i32, DateTime<Utc>)> = recognition_boosts::table
        .inner_join(members::table.on(members::id.eq(recognition_boosts::booster_id)))
        .filter(recognition_boosts::organisation_id.eq(org))
        .filter(recognition_boosts::recognition_id.eq_any(ids))
        .order((
            recognition_boosts::created_at,
            recognition_boosts::booster_id,
        ))
        .select((
            recognition_boosts::recognition_id,
            members::id,
            members::display_name,
            recognition_boosts::points,
            recognition_boosts::created_at,
        ))
        .load(conn)
        .await?;
    for (rid, id, display_name, points_each, created_at) in boosts {
        out.entry(rid).or_default().boosts.push(Boost {
            booster: MemberRef { id, display_name },
            points_each,
            created_at,
        });
    }
    let comments: Vec<(Uuid, i64)> = recognition_comments::table
        .filter(recognition_comments::organisation_id.eq(org))
        .filter(recognition_comments::recognition_id.eq_any(ids))
        .filter(recognition_comments::deleted_at.is_null())
        .filter(recognition_comments::hidden_at.is_null())
        .group_by(recognition_comments::recognition_id)
        .select((
            recognition_comments::recognition_id,
            diesel::dsl::count_star(),
        ))
        .load(conn)
        .await?;
    for (rid, n) in comments {
        out.entry(rid).or_default().comments = n;
    }
    Ok(out)
}
