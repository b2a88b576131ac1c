//! Recognition rows: reading them as views, the feed, and the writes the domain makes.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::giving::GivingKind;
use super::visibility::{Viewer, Visibility};
use super::{MemberRef, ReactionCount, ReactionKind, Recognition, Status, TeamRef};
use crate::error::{AppError, AppResult};
use crate::schema::{
    company_values, initiatives, members, recognition_boosts, recognition_hashtags,
    recognition_reactions, recognition_recipients, recognition_teams, recognition_values,
    recognitions, teams,
};
use crate::vocabulary::Dimension;

#[derive(Queryable, Selectable, Clone)]
#[diesel(table_name = recognitions)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct RecognitionRow {
    pub id: Uuid,
    /// None for a celebration.
    pub giver_id: Option<Uuid>,
    pub kind: String,
    pub message: String,
    pub points_each: i32,
    pub dimension: Option<String>,
    pub initiative_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub visibility: String,
    pub undone_at: Option<DateTime<Utc>>,
    pub hidden_at: Option<DateTime<Utc>>,
}

/// Turn rows into API views: names of givers and recipients, teams, values, boosts, reaction
/// and comment counts, in a fixed number of queries whatever the page size.
pub async fn views(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    viewer: Uuid,
    rows: Vec<RecognitionRow>,
) -> AppResult<Vec<Recognition>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let recipients: Vec<(Uuid, Uuid, String)> = recognition_recipients::table
        .inner_join(
            members::table.on(members::id
                .eq(recognition_recipients::member_id)
                .and(members::organisation_id.eq(recognition_recipients::organisation_id))),
        )
        .filter(recognition_recipients::organisation_id.eq(org))
        .filter(recognition_recipients::recognition_id.eq_any(&ids))
        .order(members::display_name)
        .select((
            recognition_recipients::recognition_id,
            members::id,
            members::display_name,
        ))
        .load(conn)
        .await?;
    let giver_ids: Vec<Uuid> = rows.iter().filter_map(|r| r.giver_id).collect();
    let givers: HashMap<Uuid, String> = members::table
        .filter(members::organisation_id.eq(org))
        .filter(members::id.eq_any(&giver_ids))
        .select((members::id, members::display_name))
        .load::<(Uuid, String)>(conn)
        .await?
        .into_iter()
        .collect();
    let reactions: Vec<(Uuid, String, Uuid)> = recognition_reactions::table
        .filter(recognition_reactions::organisation_id.eq(org))
        .filter(recognition_reactions::recognition_id.eq_any(&ids))
        .select((
            recognition_reactions::recognition_id,
            recognition_reactions::kind,
            recognition_reactions::member_id,
        ))
        .load(conn)
        .await?;
    let mut carried = crate::values::carried_by(conn, org, &ids).await?;
    let mut extras = super::extras::of(conn, org, &ids).await?;
    let mut by_recognition: HashMap<Uuid, Vec<MemberRef>> = HashMap::new();
    for (rid, id, display_name) in recipients {
        by_recognition
            .entry(rid)
            .or_default()
            .push(MemberRef { id, display_name });
    }
    let mut counts: HashMap<Uuid, Vec<ReactionCount>> = HashMap::new();
    for (rid, kind, member) in reactions {
        let Some(kind) = ReactionKind::parse(&kind) else {
            continue;
        };
        let list = counts.entry(rid).or_default();
        match list.iter_mut().find(|c| c.kind == kind) {
            Some(c) => {
                c.count += 1;
                c.mine |= member == viewer;
            }
            None => list.push(ReactionCount {
                kind,
                count: 1,
                mine: member == viewer,
            }),
        }
    }
    rows.into_iter()
        .map(|r| {
            let recipients = by_recognition.remove(&r.id).unwrap_or_default();
            let mut reactions = counts.remove(&r.id).unwrap_or_default();
            let carried = carried.remove(&r.id).unwrap_or_default();
            let extra = extras.remove(&r.id).unwrap_or_default();
            let status = match (r.hidden_at, r.undone_at) {
                (Some(_), _) => Status::Hidden,
                (None, Some(_)) => Status::Undone,
                (None, None) => Status::Active,
            };
            reactions.sort_by_key(|c| c.kind.as_str());
            Ok(Recognition {
                id: r.id,
                giver: r.giver_id.map(|id| MemberRef {
                    id,
                    display_name: givers.get(&id).cloned().unwrap_or_default(),
                }),
                kind: GivingKind::parse(&r.kind).ok_or_else(|| {
                    AppError::internal(format!("unknown recognition kind {}", r.kind))
                })?,
                message: r.message,
                points_each: r.points_each,
                total_points: i64::from(r.points_each) * recipients.len() as i64,
                dimension: r
                    .dimension
                    .as_deref()
                    .and_then(|d| Dimension::parse_field(d, "dimension").ok()),
                initiative_id: r.initiative_id,
                recipients,
                teams: extra.teams,
                visibility: Visibility::parse(&r.visibility).unwrap_or(Visibility::Public),
                status,
                values: carried.values,
                hashtags: carried.hashtags,
                boosts: extra.boosts,
                reactions,
                comments: extra.comments,
                created_at: r.created_at,
            })
        })
        .collect()
}

/// One recognition as `viewer` may see it; 404 when they may not (as for another
/// organisation's id).
pub async fn load(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<Recognition> {
    let row: RecognitionRow = recognitions::table
        .filter(recognitions::organisation_id.eq(org))
        .filter(recognitions::id.eq(id))
        .filter(viewer.condition())
        .select(RecognitionRow::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("recognition"))?;
    views(conn, org, viewer.member, vec![row])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| AppError::not_found("recognition"))
}

/// Which recognitions a feed page holds.
#[derive(Debug, Default)]
pub struct FeedFilter {
    /// Only recognitions of members of this team (their team when recognised).
    pub team: Option<Uuid>,
    /// Only recognitions this member gave or received.
    pub member: Option<Uuid>,
    /// Only recognitions carrying this value.
    pub value: Option<Uuid>,
    /// Only recognitions with this free hashtag (lower case, without '#').
    pub hashtag: Option<String>,
    /// Only recognitions before this (created_at, id), as the previous page ended.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    /// Rows to read; a page asks for one more than it shows, to know whether there is a next.
    pub limit: i64,
}

/// One page of the feed, newest first, as views for `viewer`: what they may see, neither
/// undone nor hidden.
pub async fn feed(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    viewer: &Viewer,
    filter: &FeedFilter,
) -> AppResult<Vec<Recognition>> {
    let mut query = recognitions::table
        .filter(recognitions::organisation_id.eq(org))
        .filter(recognitions::undone_at.is_null())
        .filter(recognitions::hidden_at.is_null())
        .filter(viewer.condition())
        .order((recognitions::created_at.desc(), recognitions::id.desc()))
        .limit(filter.limit)
        .select(RecognitionRow::as_select())
        .into_boxed();
    if let Some(team) = filter.team {
        query = query.filter(
            recognitions::id.eq_any(
                recognition_recipients::table
                    .filter(recognition_recipients::organisation_id.eq(org))
                    .filter(recognition_recipients::team_id.eq(team))
                    .select(recognition_recipients::recognition_id),
            ),
        );
    }
    if let Some(member) = filter.member {
        query = query.filter(
            recognitions::giver_id
                .eq(member)
                .or(recognitions::id.eq_any(
                    recognition_recipients::table
                        .filter(recognition_recipients::organisation_id.eq(org))
                        .filter(recognition_recipients::member_id.eq(member))
                        .select(recognition_recipients::recognition_id),
                )),
        );
    }
    if let Some(value) = filter.value {
        query = query.filter(
            recognitions::id.eq_any(
                recognition_values::table
                    .filter(recognition_values::organisation_id.eq(org))
                    .filter(recognition_values::value_id.eq(value))
                    .select(recognition_values::recognition_id),
            ),
        );
    }
    if let Some(tag) = &filter.hashtag {
        // A value's hashtag in a message became the value: both count as naming it.
        query = query.filter(
            recognitions::id
                .eq_any(
                    recognition_hashtags::table
                        .filter(recognition_hashtags::organisation_id.eq(org))
                        .filter(recognition_hashtags::tag.eq(tag.clone()))
                        .select(recognition_hashtags::recognition_id),
                )
                .or(recognitions::id.eq_any(
                    recognition_values::table
                        .inner_join(
                            company_values::table
                                .on(company_values::id.eq(recognition_values::value_id)),
                        )
                        .filter(recognition_values::organisation_id.eq(org))
                        .filter(company_values::organisation_id.eq(org))
                        .filter(crate::sql::lower(company_values::hashtag).eq(tag.clone()))
                        .select(recognition_values::recognition_id),
                )),
        );
    }
    if let Some((t, id)) = filter.after {
        query = query.filter(
            recognitions::created_at
                .lt(t)
                .or(recognitions::created_at.eq(t).and(recognitions::id.lt(id))),
        );
    }
    let rows: Vec<RecognitionRow> = query.load(conn).await?;
    views(conn, org, viewer.member, rows).await
}

/// An active member a recognition names: its giver or a recipient.
pub struct Named {
    pub team_id: Option<Uuid>,
    pub display_name: String,
}

/// Which of `ids` are active members of the organisation, with what a recognition needs of
/// them (the team it counts for, the name it shows): read once per recognition.
pub async fn active_members(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    ids: &[Uuid],
) -> AppResult<HashMap<Uuid, Named>> {
    Ok(members::table
        .filter(members::organisation_id.eq(org))
        .filter(members::id.eq_any(ids))
        .filter(members::deactivated_at.is_null())
        .select((members::id, members::team_id, members::display_name))
        .load::<(Uuid, Option<Uuid>, String)>(conn)
        .await?
        .into_iter()
        .map(|(id, team_id, display_name)| {
            (
                id,
                Named {
                    team_id,
                    display_name,
                },
            )
        })
        .collect())
}

pub async fn initiative_exists(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    initiative: Uuid,
) -> AppResult<bool> {
    let n: i64 = initiatives::table
        .filter(initiatives::organisation_id.eq(org))
        .filter(initiatives::id.eq(initiative))
        .count()
        .get_result(conn)
        .await?;
    Ok(n > 0)
}

/// The points `giver` gave each of `recipients` as a peer in `[from, to)`, and when, one triple
/// per recognition or boost.
pub async fn peer_points_given(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    giver: Uuid,
    recipients: &[Uuid],
    (from, to): (DateTime<Utc>, DateTime<Utc>),
) -> AppResult<Vec<(Uuid, i32, DateTime<Utc>)>> {
    let mut given: Vec<(Uuid, i32, DateTime<Utc>)> = recognitions::table
        .inner_join(
            recognition_recipients::table
                .on(recognition_recipients::recognition_id.eq(recognitions::id)),
        )
        .filter(recognitions::organisation_id.eq(org))
        .filter(recognitions::giver_id.eq(giver))
        .filter(recognitions::kind.eq(GivingKind::Peer.as_str()))
        .filter(recognitions::created_at.ge(from))
        .filter(recognitions::created_at.lt(to))
        // The recipients' rows carry their recognition's time: with it, the day's look-up
        // starts from what these recipients received today (a few rows), not from all the giver
        // gave today (hundreds for a prolific giver).
        .filter(recognition_recipients::organisation_id.eq(org))
        .filter(recognition_recipients::member_id.eq_any(recipients))
        .filter(recognition_recipients::created_at.ge(from))
        .filter(recognition_recipients::created_at.lt(to))
        .select((
            recognition_recipients::member_id,
            recognitions::points_each,
            recognitions::created_at,
        ))
        .load(conn)
        .await?;
    // What they boosted these recipients with.
    let boosted: Vec<(Uuid, i32, DateTime<Utc>)> = recognition_boosts::table
        .inner_join(
            recognition_recipients::table
                .on(recognition_recipients::recognition_id.eq(recognition_boosts::recognition_id)),
        )
        .filter(recognition_boosts::organisation_id.eq(org))
        .filter(recognition_boosts::booster_id.eq(giver))
        .filter(recognition_boosts::kind.eq(GivingKind::Peer.as_str()))
        .filter(recognition_boosts::created_at.ge(from))
        .filter(recognition_boosts::created_at.lt(to))
        .filter(recognition_recipients::member_id.eq_any(recipients))
        .select((
            recognition_recipients::member_id,
            recognition_boosts::points,
            recognition_boosts::created_at,
        ))
        .load(conn)
        .await?;
    given.extend(boosted);
    Ok(given)
}

/// A recognition's own row, before its recipients.
pub struct NewRecognition<'a> {
    pub giver: Uuid,
    pub kind: GivingKind,
    pub message: &'a str,
    pub points_each: i32,
    pub dimension: Option<Dimension>,
    pub initiative_id: Option<Uuid>,
    /// The giving period it was paid from, for a reversal to give the points back to.
    pub giving_period_start: Option<NaiveDate>,
    pub visibility: Visibility,
}

/// Write a recognition, its recipients (each with the team `named` says they are in, read in
/// the same transaction) and the teams it named; its id and time.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    new: &NewRecognition<'_>,
    recipients: &[Uuid],
    teams: &[Uuid],
    named: &HashMap<Uuid, Named>,
) -> AppResult<(Uuid, DateTime<Utc>)> {
    let (id, created_at): (Uuid, DateTime<Utc>) = diesel::insert_into(recognitions::table)
        .values((
            recognitions::organisation_id.eq(org),
            recognitions::giver_id.eq(new.giver),
            recognitions::kind.eq(new.kind.as_str()),
            recognitions::message.eq(new.message),
            recognitions::points_each.eq(new.points_each),
            recognitions::dimension.eq(new.dimension.map(|d| d.as_str())),
            recognitions::initiative_id.eq(new.initiative_id),
            recognitions::giving_period_start.eq(new.giving_period_start),
            recognitions::visibility.eq(new.visibility.as_str()),
        ))
        .returning((recognitions::id, recognitions::created_at))
        .get_result(conn)
        .await?;
    let rows: Vec<_> = recipients
        .iter()
        .map(|member| {
            (
                recognition_recipients::organisation_id.eq(org),
                recognition_recipients::recognition_id.eq(id),
                recognition_recipients::member_id.eq(*member),
                recognition_recipients::team_id.eq(named.get(member).and_then(|n| n.team_id)),
            )
        })
        .collect();
    diesel::insert_into(recognition_recipients::table)
        .values(rows)
        .execute(conn)
        .await?;
    if !teams.is_empty() {
        let rows: Vec<_> = teams
            .iter()
            .map(|t| {
                (
                    recognition_teams::organisation_id.eq(org),
                    recognition_teams::recognition_id.eq(id),
                    recognition_teams::team_id.eq(*t),
                )
            })
            .collect();
        diesel::insert_into(recognition_teams::table)
            .values(rows)
            .execute(conn)
            .await?;
    }
    Ok((id, created_at))
}

/// Which of `ids` are live teams of the organisation, and the active members of those teams.
pub async fn live_teams(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    ids: &[Uuid],
) -> AppResult<(Vec<TeamRef>, Vec<Uuid>)> {
    if ids.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let teams: Vec<TeamRef> = teams::table
        .filter(teams::organisation_id.eq(org))
        .filter(teams::id.eq_any(ids))
        .filter(teams::archived_at.is_null())
        .order(teams::name)
        .select((teams::id, teams::name))
        .load::<(Uuid, String)>(conn)
        .await?
        .into_iter()
        .map(|(id, name)| TeamRef { id, name })
        .collect();
    let live: Vec<Uuid> = teams.iter().map(|t| t.id).collect();
    let members: Vec<Uuid> = members::table
        .filter(members::organisation_id.eq(org))
        .filter(members::team_id.eq_any(&live))
        .filter(members::deactivated_at.is_null())
        .order((members::display_name, members::id))
        // One more than a recognition may name, so that too many is seen.
        .limit(super::MAX_TEAM_RECIPIENTS as i64 + 1)
        .select(members::id)
        .load(conn)
        .await?;
    Ok((teams, members))
}

/// Leave `member`'s reaction; a second of the same kind is a unique violation.
pub async fn insert_reaction(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    recognition: Uuid,
    member: Uuid,
    kind: ReactionKind,
) -> Result<(), diesel::result::Error> {
    diesel::insert_into(recognition_reactions::table)
        .values((
            recognition_reactions::organisation_id.eq(org),
            recognition_reactions::recognition_id.eq(recognition),
            recognition_reactions::member_id.eq(member),
            recognition_reactions::kind.eq(kind.as_str()),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Take back `member`'s reaction; how many rows went (0 or 1).
pub async fn delete_reaction(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    recognition: Uuid,
    member: Uuid,
    kind: ReactionKind,
) -> AppResult<usize> {
    Ok(diesel::delete(
        recognition_reactions::table
            .filter(recognition_reactions::organisation_id.eq(org))
            .filter(recognition_reactions::recognition_id.eq(recognition))
            .filter(recognition_reactions::member_id.eq(member))
            .filter(recognition_reactions::kind.eq(kind.as_str())),
    )
    .execute(conn)
    .await?)
}

/// A member's stored role, or `None` when there is no such member in the organisation.
pub async fn member_role(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
) -> AppResult<Option<String>> {
    Ok(members::table
        .filter(members::organisation_id.eq(org))
        .filter(members::id.eq(member))
        .select(members::role)
        .first(conn)
        .await
        .optional()?)
}
