//! Recognition gaps: per member of a team, the days since anyone recognised them and who did,
//! so that a team lead notices who is overlooked.

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use super::{RecognitionGap, RecognitionGaps, queries};
use crate::auth::{Caller, Role};
use crate::error::{AppError, AppResult};
use crate::recognition::MemberRef;
use crate::{organisations, periods, teams};

/// The most members one answer lists (the most overlooked).
pub const MAX_MEMBERS: usize = 500;

/// A team's gaps as `caller` may see them: admins and HR for any team of the organisation, a
/// team lead for their own team only (`403` for another); another organisation's team is
/// `404`. Days are counted in the organisation's local days up to `now`.
pub async fn for_team(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    team: Uuid,
    now: DateTime<Utc>,
) -> AppResult<RecognitionGaps> {
    let org = caller.organisation_id;
    teams::find(conn, org, team).await?;
    let may = match caller.role {
        Role::Admin | Role::Hr => true,
        Role::TeamLead => caller.team_id == Some(team),
        Role::Employee => false,
    };
    if !may {
        return Err(AppError::Forbidden(
            "only the team's leads, HR and admins see its recognition gaps".into(),
        ));
    }
    let tz = periods::parse_tz(&organisations::find(conn, org).await?.time_zone);
    let as_of = periods::local_date(tz, now);
    let mut rows = queries::gaps(conn, org, team, caller.member_id, MAX_MEMBERS as i64 + 1).await?;
    let truncated = rows.len() > MAX_MEMBERS;
    rows.truncate(MAX_MEMBERS);
    let members =
        rows.into_iter()
            .map(|r| {
                let role = r.role.parse::<Role>().map_err(|_| {
                    AppError::internal(format!("unknown role in database: {}", r.role))
                })?;
                Ok(RecognitionGap {
                    member_id: r.member_id,
                    display_name: r.display_name,
                    role,
                    days_since_recognised: r
                        .last_at
                        .map(|at| (as_of - periods::local_date(tz, at)).num_days().max(0)),
                    last_recognised_at: r.last_at,
                    last_recognised_by: r.giver_id.map(|id| MemberRef {
                        id,
                        display_name: r.giver_name.unwrap_or_default(),
                    }),
                })
            })
            .collect::<AppResult<Vec<_>>>()?;
    Ok(RecognitionGaps {
        team_id: team,
        as_of,
        members,
        truncated,
    })
}
