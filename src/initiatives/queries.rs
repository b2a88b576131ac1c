//! Initiative rows and the queries that read them (the list and its order: `listing`). Every query is scoped by organisation:
//! another organisation's initiative is, from here, one that does not exist.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{
    EventKind, Initiative, InitiativeDetail, InitiativeStatus, MemberRef, Outcome, TimelineEvent,
};
use crate::auth::Role;
use crate::error::{AppError, AppResult, FieldError};
use crate::ledger::{EntryRow, Reason, SourceType};
use crate::schema::{
    initiative_comments, initiative_contributors, initiative_events, initiatives, ledger_entries,
    members,
};
use crate::vocabulary::{Channel, Dimension, JourneyStage};

/// How many wins are at (or have passed) each stage of the lifecycle: the `submitted`,
/// `approved`, `implemented` and `measured` columns of a report's row (an export's period, the
/// analytics funnel), each a `bigint` count.
#[derive(Debug, Clone, Copy, Default, QueryableByName)]
pub struct StageCounts {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub submitted: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub approved: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub implemented: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub measured: i64,
}

impl StageCounts {
    pub fn total(&self) -> i64 {
        self.submitted + self.approved + self.implemented + self.measured
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = initiatives)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct InitiativeRow {
    pub id: Uuid,
    pub author_id: Uuid,
    pub team_id: Option<Uuid>,
    pub title: String,
    pub description: String,
    pub dimension: String,
    pub channel: String,
    pub journey_stage: String,
    pub customer_value: i16,
    pub organisation_value: i16,
    pub ease: i16,
    pub priority: Option<i16>,
    pub customer_reference: Option<String>,
    pub status: String,
    pub outcome_kpi: Option<String>,
    pub outcome_unit: Option<String>,
    pub outcome_baseline: Option<f64>,
    pub outcome_result: Option<f64>,
    pub outcome_measured_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl InitiativeRow {
    pub fn status(&self) -> AppResult<InitiativeStatus> {
        InitiativeStatus::parse(&self.status)
            .ok_or_else(|| AppError::internal(format!("unknown initiative status {}", self.status)))
    }

    pub fn dimension(&self) -> AppResult<Dimension> {
        stored(Dimension::parse_field(&self.dimension, "dimension"))
    }

    pub fn into_initiative(self, author_name: String) -> AppResult<Initiative> {
        let status = self.status()?;
        let dimension = self.dimension()?;
        let channel = stored(Channel::parse_field(&self.channel, "channel"))?;
        let journey_stage = stored(JourneyStage::parse_field(
            &self.journey_stage,
            "journey_stage",
        ))?;
        let outcome = match (
            self.outcome_kpi,
            self.outcome_baseline,
            self.outcome_result,
            self.outcome_measured_at,
        ) {
            (Some(kpi), Some(baseline), Some(result), Some(measured_at)) => Some(Outcome {
                kpi,
                unit: self.outcome_unit.unwrap_or_default(),
                baseline,
                result,
                change: result - baseline,
                measured_at,
            }),
            _ => None,
        };
        Ok(Initiative {
            id: self.id,
            author: MemberRef {
                id: self.author_id,
                display_name: author_name,
            },
            team_id: self.team_id,
            title: self.title,
            description: self.description,
            dimension,
            channel,
            journey_stage,
            customer_value: self.customer_value,
            organisation_value: self.organisation_value,
            ease: self.ease,
            priority: self
                .priority
                .unwrap_or_else(|| (self.customer_value + self.organisation_value) * self.ease * 2),
            customer_reference: self.customer_reference,
            status,
            outcome,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

fn stored<T>(parsed: Result<T, FieldError>) -> AppResult<T> {
    parsed.map_err(|e| AppError::internal(format!("bad stored {}: {}", e.field, e.message)))
}

/// Initiatives joined with their author, for views with the author's name.
macro_rules! with_author {
    () => {
        initiatives::table.inner_join(
            members::table.on(members::id
                .eq(initiatives::author_id)
                .and(members::organisation_id.eq(initiatives::organisation_id))),
        )
    };
}
pub(super) use with_author;

/// The initiative row, locked until the transaction ends (`SELECT ... FOR UPDATE`): whoever
/// holds it decides the next status alone. 404 for unknown ids and other organisations' ids.
pub async fn lock(conn: &mut AsyncPgConnection, org: Uuid, id: Uuid) -> AppResult<InitiativeRow> {
    initiatives::table
        .filter(initiatives::organisation_id.eq(org))
        .filter(initiatives::id.eq(id))
        .select(InitiativeRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("initiative"))
}

/// Whether anyone but `caller` could approve an initiative of `team` without being involved
/// in it: another active admin, or an active lead of its team, who is neither `author` nor
/// one of `contributors`.
pub async fn another_decider_exists(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    team: Option<Uuid>,
    caller: Uuid,
    author: Uuid,
    contributors: &[Uuid],
) -> AppResult<bool> {
    let mut involved = contributors.to_vec();
    involved.push(author);
    involved.push(caller);
    let mut query = members::table
        .filter(members::organisation_id.eq(org))
        .filter(members::deactivated_at.is_null())
        .filter(members::id.ne_all(involved))
        .into_boxed();
    query = match team {
        Some(team) => query.filter(
            members::role.eq(Role::Admin.as_str()).or(members::role
                .eq(Role::TeamLead.as_str())
                .and(members::team_id.eq(team))),
        ),
        None => query.filter(members::role.eq(Role::Admin.as_str())),
    };
    let n: i64 = query.count().get_result(conn).await?;
    Ok(n > 0)
}

/// The initiative's submission entries.
async fn submission_entries(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
) -> AppResult<Vec<EntryRow>> {
    Ok(ledger_entries::table
        .filter(ledger_entries::organisation_id.eq(org))
        .filter(ledger_entries::source_type.eq(SourceType::Initiative.as_str()))
        .filter(ledger_entries::source_id.eq(id))
        .filter(ledger_entries::reason.eq(Reason::InitiativeSubmitted.as_str()))
        .select(EntryRow::as_select())
        .load(conn)
        .await?)
}

/// Whether the initiative's submission points were paid already (when it was submitted, under
/// an earlier setting), so that approving it does not pay them twice.
pub async fn submission_paid(conn: &mut AsyncPgConnection, org: Uuid, id: Uuid) -> AppResult<bool> {
    Ok(!submission_entries(conn, org, id).await?.is_empty())
}

/// The initiative's submission entries that no entry reverses yet.
pub async fn unreversed_submission_entries(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
) -> AppResult<Vec<EntryRow>> {
    let entries = submission_entries(conn, org, id).await?;
    if entries.is_empty() {
        return Ok(entries);
    }
    let ids: Vec<Uuid> = entries.iter().map(|e| e.id).collect();
    let reversed: Vec<Option<Uuid>> = ledger_entries::table
        .filter(ledger_entries::organisation_id.eq(org))
        .filter(ledger_entries::reverses.eq_any(&ids))
        .select(ledger_entries::reverses)
        .load(conn)
        .await?;
    Ok(entries
        .into_iter()
        .filter(|e| !reversed.contains(&Some(e.id)))
        .collect())
}

/// Whether the initiative exists in the organisation (404 otherwise).
pub async fn ensure_exists(conn: &mut AsyncPgConnection, org: Uuid, id: Uuid) -> AppResult<()> {
    let found: i64 = initiatives::table
        .filter(initiatives::organisation_id.eq(org))
        .filter(initiatives::id.eq(id))
        .count()
        .get_result(conn)
        .await?;
    if found == 0 {
        return Err(AppError::not_found("initiative"));
    }
    Ok(())
}

/// One initiative as the API shows it.
pub async fn load(conn: &mut AsyncPgConnection, org: Uuid, id: Uuid) -> AppResult<Initiative> {
    let (row, author): (InitiativeRow, String) = with_author!()
        .filter(initiatives::organisation_id.eq(org))
        .filter(initiatives::id.eq(id))
        .select((InitiativeRow::as_select(), members::display_name))
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("initiative"))?;
    row.into_initiative(author)
}

/// One initiative with its contributors, timeline and comment count.
pub async fn detail(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
) -> AppResult<InitiativeDetail> {
    let initiative = load(conn, org, id).await?;
    let contributors = contributors(conn, org, id).await?;
    let timeline = timeline(conn, org, id).await?;
    let comment_count: i64 = initiative_comments::table
        .filter(initiative_comments::organisation_id.eq(org))
        .filter(initiative_comments::initiative_id.eq(id))
        .count()
        .get_result(conn)
        .await?;
    Ok(InitiativeDetail {
        initiative,
        contributors,
        timeline,
        comment_count,
    })
}

/// The initiative's contributors, by name.
pub async fn contributors(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
) -> AppResult<Vec<MemberRef>> {
    let rows: Vec<(Uuid, String)> = initiative_contributors::table
        .inner_join(
            members::table.on(members::id
                .eq(initiative_contributors::member_id)
                .and(members::organisation_id.eq(initiative_contributors::organisation_id))),
        )
        .filter(initiative_contributors::organisation_id.eq(org))
        .filter(initiative_contributors::initiative_id.eq(id))
        .order((members::display_name, members::id))
        .select((members::id, members::display_name))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, display_name)| MemberRef { id, display_name })
        .collect())
}

/// The ids of the initiative's contributors.
pub async fn contributor_ids(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
) -> AppResult<Vec<Uuid>> {
    Ok(initiative_contributors::table
        .filter(initiative_contributors::organisation_id.eq(org))
        .filter(initiative_contributors::initiative_id.eq(id))
        .order(initiative_contributors::member_id)
        .select(initiative_contributors::member_id)
        .load(conn)
        .await?)
}

async fn timeline(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
) -> AppResult<Vec<TimelineEvent>> {
    type Row = (
        Uuid,
        String,
        Uuid,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        DateTime<Utc>,
    );
    let rows: Vec<Row> = initiative_events::table
        .inner_join(
            members::table.on(members::id
                .eq(initiative_events::actor_id)
                .and(members::organisation_id.eq(initiative_events::organisation_id))),
        )
        .filter(initiative_events::organisation_id.eq(org))
        .filter(initiative_events::initiative_id.eq(id))
        .order((initiative_events::created_at, initiative_events::id))
        .select((
            initiative_events::id,
            initiative_events::kind,
            members::id,
            members::display_name,
            initiative_events::from_status,
            initiative_events::to_status,
            initiative_events::note,
            initiative_events::created_at,
        ))
        .load(conn)
        .await?;
    let status = |s: Option<String>| -> AppResult<Option<InitiativeStatus>> {
        s.map(|s| {
            InitiativeStatus::parse(&s)
                .ok_or_else(|| AppError::internal(format!("unknown status {s} on timeline")))
        })
        .transpose()
    };
    rows.into_iter()
        .map(
            |(id, kind, actor_id, actor_name, from, to, note, created_at)| {
                Ok(TimelineEvent {
                    id,
                    kind: EventKind::parse(&kind).ok_or_else(|| {
                        AppError::internal(format!("unknown initiative event {kind}"))
                    })?,
                    actor: MemberRef {
                        id: actor_id,
                        display_name: actor_name,
                    },
                    from_status: status(from)?,
                    to_status: status(to)?,
                    note,
                    created_at,
                })
            },
        )
        .collect()
}

/// Check proposed contributors: unique, not the author, active members of the organisation.
/// Each bad one is named `contributors[i]`.
pub async fn check_contributors(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    author: Uuid,
    contributors: &[Uuid],
    errors: &mut Vec<FieldError>,
) -> AppResult<()> {
    if contributors.is_empty() {
        return Ok(());
    }
    let active: Vec<Uuid> = members::table
        .filter(members::organisation_id.eq(org))
        .filter(members::id.eq_any(contributors))
        .filter(members::deactivated_at.is_null())
        .select(members::id)
        .load(conn)
        .await?;
    for (i, c) in contributors.iter().enumerate() {
        if *c == author {
            errors.push(FieldError::new(
                format!("contributors[{i}]"),
                "is the author; the author is credited anyway",
            ));
        } else if contributors[..i].contains(c) {
            errors.push(FieldError::new(
                format!("contributors[{i}]"),
                "is listed twice",
            ));
        } else if !active.contains(c) {
            errors.push(FieldError::new(
                format!("contributors[{i}]"),
                "no active member with that id in your organisation",
            ));
        }
    }
    Ok(())
}

/// Replace the initiative's contributors.
pub async fn set_contributors(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
    contributors: &[Uuid],
) -> AppResult<()> {
    diesel::delete(
        initiative_contributors::table
            .filter(initiative_contributors::organisation_id.eq(org))
            .filter(initiative_contributors::initiative_id.eq(id)),
    )
    .execute(conn)
    .await?;
    if contributors.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = contributors
        .iter()
        .map(|m| {
            (
                initiative_contributors::organisation_id.eq(org),
                initiative_contributors::initiative_id.eq(id),
                initiative_contributors::member_id.eq(*m),
            )
        })
        .collect();
    diesel::insert_into(initiative_contributors::table)
        .values(rows)
        .execute(conn)
        .await?;
    Ok(())
}

/// One entry on the timeline.
pub struct NewEvent<'a> {
    pub actor: Uuid,
    pub kind: EventKind,
    pub from: Option<InitiativeStatus>,
    pub to: Option<InitiativeStatus>,
    pub note: Option<&'a str>,
}

/// Append an event to the timeline (the table is append-only).
pub async fn add_event(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
    event: NewEvent<'_>,
) -> AppResult<()> {
    diesel::insert_into(initiative_events::table)
        .values((
            initiative_events::organisation_id.eq(org),
            initiative_events::initiative_id.eq(id),
            initiative_events::actor_id.eq(event.actor),
            initiative_events::kind.eq(event.kind.as_str()),
            initiative_events::from_status.eq(event.from.map(InitiativeStatus::as_str)),
            initiative_events::to_status.eq(event.to.map(InitiativeStatus::as_str)),
            initiative_events::note.eq(event.note),
        ))
        .execute(conn)
        .await?;
    Ok(())
}
