//! Creating, editing and moving an initiative through its statuses.
//!
//! Each function runs inside the caller's transaction. Status changes lock the initiative row
//! first (`SELECT ... FOR UPDATE`) and check the status under the lock, so of two concurrent
//! approvals one waits for the other, finds the initiative approved, and answers 409: points
//! are granted once. The points of a change are ledger entries written in the same
//! transaction as the change, so they exist exactly when the change does.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use super::queries::{self, InitiativeRow, NewEvent};
use super::{EventKind, Initiative, InitiativeStatus};
use super::{notices, points};
use crate::auth::{Caller, Role};
use crate::error::{AppError, AppResult};
use crate::gamification;
use crate::http::check;
use crate::ledger::{Credit, Reason, SourceType, rules};
use crate::schema::initiatives;
use crate::vocabulary::{Channel, Dimension, JourneyStage};
use crate::{organisations, periods, sql};

/// A validated new initiative.
#[derive(Debug, Clone)]
pub struct NewInitiative {
    pub title: String,
    pub description: String,
    pub dimension: Dimension,
    pub channel: Channel,
    pub journey_stage: JourneyStage,
    pub customer_value: i16,
    pub organisation_value: i16,
    pub ease: i16,
    pub customer_reference: Option<String>,
    pub contributors: Vec<Uuid>,
}

/// The note on the approval event written when the mandate approves on submission.
pub const MANDATE_NOTE: &str = "approved on submission (mandate)";

/// The note on the entry that takes a declined win's submission points back.
pub const DECLINE_REVERSAL_NOTE: &str =
    "initiative declined: submission points are paid on approval only";

/// Submit an initiative as `author` (their current team becomes its team). With the
/// organisation's mandate on it is approved on submission: two events, and the submitted,
/// approved and contributor entries at once, within each member's daily cap. Without the
/// mandate, the submission points are paid now (within the cap) only when the organisation
/// does not pay them on approval.
pub async fn submit(
    conn: &mut AsyncPgConnection,
    author: &Caller,
    new: NewInitiative,
) -> AppResult<Initiative> {
    let org = author.organisation_id;
    let mut errors = Vec::new();
    queries::check_contributors(conn, org, author.member_id, &new.contributors, &mut errors)
        .await?;
    check(errors)?;
    let organisation = organisations::find(conn, org).await?;
    let mandate = organisation.mandate;
    let tz = periods::parse_tz(&organisation.time_zone);
    let rules = rules::load(conn, org).await?;
    let status = if mandate {
        InitiativeStatus::Approved
    } else {
        InitiativeStatus::Submitted
    };
    let id: Uuid = diesel::insert_into(initiatives::table)
        .values((
            initiatives::organisation_id.eq(org),
            initiatives::author_id.eq(author.member_id),
            initiatives::team_id.eq(author.team_id),
            initiatives::title.eq(&new.title),
            initiatives::description.eq(&new.description),
            initiatives::dimension.eq(new.dimension.as_str()),
            initiatives::channel.eq(new.channel.as_str()),
            initiatives::journey_stage.eq(new.journey_stage.as_str()),
            initiatives::customer_value.eq(new.customer_value),
            initiatives::organisation_value.eq(new.organisation_value),
            initiatives::ease.eq(new.ease),
            initiatives::customer_reference.eq(&new.customer_reference),
            initiatives::status.eq(status.as_str()),
        ))
        .returning(initiatives::id)
        .get_result(conn)
        .await?;
    queries::set_contributors(conn, org, id, &new.contributors).await?;
    let source = |member, points, reason| {
        Credit::new(member, points, reason)
            .source(SourceType::Initiative, id)
            .dimension(Some(new.dimension))
    };
    // Every point of a submission is self-paid: with the mandate the author approves their own
    // win, so its approval and contributor points are capped like the submission's.
    let mut capped = Vec::new();
    if mandate || !rules.submission_points_on_approval {
        capped.push(source(
            author.member_id,
            rules.initiative_submitted,
            Reason::InitiativeSubmitted,
        ));
    }
    if mandate {
        capped.push(source(
            author.member_id,
            rules.initiative_approved,
            Reason::InitiativeApproved,
        ));
        for c in &new.contributors {
            capped.push(source(
                *c,
                rules.contributor,
                Reason::InitiativeContribution,
            ));
        }
    }
    let cap = rules.submission_points_daily_cap;
    let (credits, withheld) = points::pay_capped(conn, org, tz, cap, capped).await?;
    let withheld = points::withheld_note(&withheld, author.member_id, cap);
    queries::add_event(
        conn,
        org,
        id,
        NewEvent {
            actor: author.member_id,
            kind: EventKind::Submitted,
            from: None,
            to: Some(InitiativeStatus::Submitted),
            note: withheld.as_deref(),
        },
    )
    .await?;
    if mandate {
        queries::add_event(
            conn,
            org,
            id,
            NewEvent {
                actor: author.member_id,
                kind: EventKind::Approved,
                from: Some(InitiativeStatus::Submitted),
                to: Some(InitiativeStatus::Approved),
                note: Some(MANDATE_NOTE),
            },
        )
        .await?;
    }
    let mut involved = vec![author.member_id];
    involved.extend(new.contributors.iter().copied());
    // Told before the badges settling may earn, so that the inbox reads in order.
    let by = (author.member_id, author.team_id);
    notices::submitted(conn, org, by, id, mandate, &new.contributors).await?;
    gamification::settle(conn, org, &involved, credits).await?;
    tracing::info!(organisation_id = %org, initiative = %id, by = %author.member_id, %status, "initiative submitted");
    queries::load(conn, org, id).await
}

/// A validated edit: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct Edit {
    pub title: Option<String>,
    pub description: Option<String>,
    pub dimension: Option<Dimension>,
    pub channel: Option<Channel>,
    pub journey_stage: Option<JourneyStage>,
    pub customer_value: Option<i16>,
    pub organisation_value: Option<i16>,
    pub ease: Option<i16>,
    /// `Some(None)` clears it.
    pub customer_reference: Option<Option<String>>,
    /// Replaces the contributors.
    pub contributors: Option<Vec<Uuid>>,
}

impl Edit {
    /// The names of the fields this edit sets, for the timeline.
    pub fn fields(&self) -> Vec<&'static str> {
        [
            ("title", self.title.is_some()),
            ("description", self.description.is_some()),
            ("dimension", self.dimension.is_some()),
            ("channel", self.channel.is_some()),
            ("journey_stage", self.journey_stage.is_some()),
            ("customer_value", self.customer_value.is_some()),
            ("organisation_value", self.organisation_value.is_some()),
            ("ease", self.ease.is_some()),
            ("customer_reference", self.customer_reference.is_some()),
            ("contributors", self.contributors.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

/// Edit an initiative: its author only, and only while it is submitted. History after that
/// is not rewritten.
pub async fn edit(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
    edit: Edit,
) -> AppResult<Initiative> {
    let org = caller.organisation_id;
    let row = queries::lock(conn, org, id).await?;
    if row.author_id != caller.member_id {
        return Err(AppError::Forbidden(
            "only the author may edit an initiative".into(),
        ));
    }
    let status = row.status()?;
    if status != InitiativeStatus::Submitted {
        return Err(conflict(
            status,
            format!(
                "this initiative is {status}; only a submitted initiative can be edited, and its history stays as it is"
            ),
        ));
    }
    if let Some(contributors) = &edit.contributors {
        let mut errors = Vec::new();
        queries::check_contributors(conn, org, caller.member_id, contributors, &mut errors).await?;
        check(errors)?;
    }
    let changed = edit.fields().join(", ");
    diesel::update(
        initiatives::table
            .filter(initiatives::organisation_id.eq(org))
            .filter(initiatives::id.eq(id)),
    )
    .set((
        edit.title.as_ref().map(|v| initiatives::title.eq(v)),
        edit.description
            .as_ref()
            .map(|v| initiatives::description.eq(v)),
        edit.dimension
            .map(|v| initiatives::dimension.eq(v.as_str())),
        edit.channel.map(|v| initiatives::channel.eq(v.as_str())),
        edit.journey_stage
            .map(|v| initiatives::journey_stage.eq(v.as_str())),
        edit.customer_value
            .map(|v| initiatives::customer_value.eq(v)),
        edit.organisation_value
            .map(|v| initiatives::organisation_value.eq(v)),
        edit.ease.map(|v| initiatives::ease.eq(v)),
        edit.customer_reference
            .as_ref()
            .map(|v| initiatives::customer_reference.eq(v.as_deref())),
        initiatives::updated_at.eq(sql::frontline_now()),
    ))
    .execute(conn)
    .await?;
    if let Some(contributors) = &edit.contributors {
        queries::set_contributors(conn, org, id, contributors).await?;
    }
    queries::add_event(
        conn,
        org,
        id,
        NewEvent {
            actor: caller.member_id,
            kind: EventKind::Edited,
            from: Some(status),
            to: Some(status),
            note: Some(&format!("changed {changed}")),
        },
    )
    .await?;
    queries::load(conn, org, id).await
}

/// A validated outcome to record.
#[derive(Debug, Clone)]
pub struct Measurement {
    pub kpi: String,
    pub unit: String,
    pub baseline: f64,
    pub result: f64,
    pub measured_at: DateTime<Utc>,
}

/// A status change.
#[derive(Debug, Clone)]
pub enum Transition {
    Approve {
        note: Option<String>,
    },
    Decline {
        reason: String,
    },
    Implement {
        note: Option<String>,
    },
    Measure {
        outcome: Measurement,
        note: Option<String>,
    },
}

impl Transition {
    fn kind(&self) -> EventKind {
        match self {
            Transition::Approve { .. } => EventKind::Approved,
            Transition::Decline { .. } => EventKind::Declined,
            Transition::Implement { .. } => EventKind::Implemented,
            Transition::Measure { .. } => EventKind::Measured,
        }
    }

    /// The status it starts from and the one it leads to.
    fn statuses(&self) -> (InitiativeStatus, InitiativeStatus) {
        match self {
            Transition::Approve { .. } => (InitiativeStatus::Submitted, InitiativeStatus::Approved),
            Transition::Decline { .. } => (InitiativeStatus::Submitted, InitiativeStatus::Declined),
            Transition::Implement { .. } => {
                (InitiativeStatus::Approved, InitiativeStatus::Implemented)
            }
            Transition::Measure { .. } => {
                (InitiativeStatus::Implemented, InitiativeStatus::Measured)
            }
        }
    }

    fn verb(&self) -> &'static str {
        match self {
            Transition::Approve { .. } => "approved",
            Transition::Decline { .. } => "declined",
            Transition::Implement { .. } => "marked implemented",
            Transition::Measure { .. } => "measured",
        }
    }

    fn note(&self) -> Option<&str> {
        match self {
            Transition::Approve { note }
            | Transition::Implement { note }
            | Transition::Measure { note, .. } => note.as_deref(),
            Transition::Decline { reason } => Some(reason),
        }
    }

    /// The author's points for it, and whether contributors are credited too.
    fn points(&self, rules: &rules::PointRules) -> Option<(i32, Reason)> {
        match self {
            Transition::Approve { .. } => {
                Some((rules.initiative_approved, Reason::InitiativeApproved))
            }
            Transition::Decline { .. } => None,
            Transition::Implement { .. } => {
                Some((rules.initiative_implemented, Reason::InitiativeImplemented))
            }
            Transition::Measure { .. } => {
                Some((rules.initiative_measured, Reason::InitiativeMeasured))
            }
        }
    }
}

/// Whether `caller` leads the initiative's team (the team it was submitted from).
fn leads_its_team(caller: &Caller, row: &InitiativeRow) -> bool {
    caller.is(Role::TeamLead) && row.team_id.is_some() && caller.team_id == row.team_id
}

/// Who decides on an initiative.
///
/// - Approve and decline: a lead of its team or an admin, who is neither its author nor a
///   contributor: nobody decides on points they would earn.
/// - Implement and measure: the same; with the mandate on, also the author (the organisation
///   trusts its staff to act), whose points for it are then self-paid and capped.
/// - The one exception: an admin who is involved may decide when nobody else could (no other
///   active admin, and no active lead of its team who is not involved), so that a win in a
///   one-admin organisation is not stuck forever. Those points are self-paid and capped too.
///
/// Returns whether the points of the change are self-paid.
async fn authorise(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    row: &InitiativeRow,
    contributors: &[Uuid],
    t: &Transition,
    mandate: bool,
) -> AppResult<bool> {
    let is_author = row.author_id == caller.member_id;
    let involved = is_author || contributors.contains(&caller.member_id);
    let marking = matches!(t, Transition::Implement { .. } | Transition::Measure { .. });
    if marking && is_author && mandate {
        return Ok(true);
    }
    if !(caller.is(Role::Admin) || leads_its_team(caller, row)) {
        return Err(AppError::Forbidden(
            if marking && is_author {
                "without the mandate, a team lead of the initiative's team or an admin marks it implemented or measured, not its author"
            } else if marking {
                "only a team lead of the initiative's team or an admin may do this"
            } else {
                "only a team lead of the initiative's team, or an admin, may approve or decline it"
            }
            .into(),
        ));
    }
    if !involved {
        return Ok(false);
    }
    if caller.is(Role::Admin)
        && !queries::another_decider_exists(
            conn,
            caller.organisation_id,
            row.team_id,
            caller.member_id,
            row.author_id,
            contributors,
        )
        .await?
    {
        return Ok(true);
    }
    let whose = if is_author {
        "your own initiative"
    } else {
        "an initiative you contributed to"
    };
    Err(AppError::Forbidden(format!(
        "this is {whose}: it cannot be {} by you; another lead of its team or an admin can",
        t.verb()
    )))
}

fn conflict(current: InitiativeStatus, detail: String) -> AppError {
    AppError::Conflict {
        detail,
        extra: Some(json!({ "current_status": current })),
    }
}

/// Make a status change, with its event and points, under the row lock.
pub async fn transition(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
    t: Transition,
) -> AppResult<Initiative> {
    let org = caller.organisation_id;
    let row = queries::lock(conn, org, id).await?;
    let organisation = organisations::find(conn, org).await?;
    let contributors = queries::contributor_ids(conn, org, id).await?;
    let self_paid = authorise(conn, caller, &row, &contributors, &t, organisation.mandate).await?;
    let current = row.status()?;
    let (from, to) = t.statuses();
    if current != from {
        return Err(conflict(
            current,
            format!(
                "this initiative is {current}; only a {from} initiative can be {}",
                t.verb()
            ),
        ));
    }
    let target = initiatives::table
        .filter(initiatives::organisation_id.eq(org))
        .filter(initiatives::id.eq(id));
    match &t {
        Transition::Measure { outcome, .. } => {
            diesel::update(target)
                .set((
                    initiatives::status.eq(to.as_str()),
                    initiatives::outcome_kpi.eq(&outcome.kpi),
                    initiatives::outcome_unit.eq(&outcome.unit),
                    initiatives::outcome_baseline.eq(outcome.baseline),
                    initiatives::outcome_result.eq(outcome.result),
                    initiatives::outcome_measured_at.eq(outcome.measured_at),
                    initiatives::updated_at.eq(sql::frontline_now()),
                ))
                .execute(conn)
                .await?;
        }
        _ => {
            diesel::update(target)
                .set((
                    initiatives::status.eq(to.as_str()),
                    initiatives::updated_at.eq(sql::frontline_now()),
                ))
                .execute(conn)
                .await?;
        }
    }
    let rules = rules::load(conn, org).await?;
    let dimension = Some(row.dimension()?);
    let source = |member, points, reason| {
        Credit::new(member, points, reason)
            .source(SourceType::Initiative, id)
            .dimension(dimension)
    };
    let mut capped = Vec::new();
    let mut credits = Vec::new();
    if let Transition::Approve { .. } = t
        && rules.submission_points_on_approval
        && !queries::submission_paid(conn, org, id).await?
    {
        capped.push(source(
            row.author_id,
            rules.initiative_submitted,
            Reason::InitiativeSubmitted,
        ));
    }
    if let Some((points, reason)) = t.points(&rules) {
        let earned = if self_paid { &mut capped } else { &mut credits };
        earned.push(source(row.author_id, points, reason));
        for c in &contributors {
            earned.push(source(
                *c,
                rules.contributor,
                Reason::InitiativeContribution,
            ));
        }
    }
    if let Transition::Decline { .. } = t
        && rules.submission_points_on_approval
    {
        for entry in queries::unreversed_submission_entries(conn, org, id).await? {
            let mut reversal = Credit::new(entry.member_id, -entry.points, Reason::Reversal)
                .source(SourceType::LedgerEntry, entry.id)
                .dimension(dimension);
            reversal.note = Some(DECLINE_REVERSAL_NOTE.into());
            reversal.created_by = Some(caller.member_id);
            reversal.reverses = Some(entry.id);
            credits.push(reversal);
        }
    }
    let cap = rules.submission_points_daily_cap;
    let tz = periods::parse_tz(&organisation.time_zone);
    let (paid, withheld) = points::pay_capped(conn, org, tz, cap, capped).await?;
    credits.extend(paid);
    let withheld = points::withheld_note(&withheld, row.author_id, cap);
    let note = match (t.note(), withheld) {
        (Some(n), Some(w)) => Some(format!("{n}\n({w})")),
        (n, w) => n.map(str::to_string).or(w),
    };
    queries::add_event(
        conn,
        org,
        id,
        NewEvent {
            actor: caller.member_id,
            kind: t.kind(),
            from: Some(from),
            to: Some(to),
            note: note.as_deref(),
        },
    )
    .await?;
    let mut involved = vec![row.author_id];
    involved.extend(contributors);
    let change = (t.kind(), to);
    notices::changed(conn, org, caller.member_id, id, change, &involved).await?;
    gamification::settle(conn, org, &involved, credits).await?;
    tracing::info!(organisation_id = %org, initiative = %id, by = %caller.member_id, %from, %to, self_paid, "initiative status changed");
    queries::load(conn, org, id).await
}
