//! Recognition's rules and transactions: giving (with every rule checked, whoever calls),
//! reactions, and team leads' budgets.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::giving::{self, GivingKind};
use super::queries::{self, NewRecognition};
use super::visibility::{Viewer, Visibility};
use super::{MAX_TEAM_RECIPIENTS, MemberRef, ReactionKind, Recognition, Status, TeamRef};
use crate::auth::Role;
use crate::error::{AppError, AppResult, FieldError};
use crate::events::{Happened, Kind, SubjectType};
use crate::http::check;
use crate::ledger::{Credit, Reason, SourceType, rules};
use crate::vocabulary::Dimension;
use crate::{periods, validation};

pub const MAX_RECIPIENTS: usize = 50;
/// The most teams a recognition names.
pub const MAX_TEAMS: usize = 10;

/// The most a team lead's monthly budget may be set to.
pub const MAX_LEAD_BUDGET: i32 = 10_000_000;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRecognition {
    /// Members to recognise (0-50, not yourself; with `team_ids`, at least one of the two).
    #[serde(default)]
    pub recipients: Vec<Uuid>,
    /// Whole teams to recognise (at most 10 live teams): each active member but you is a
    /// recipient, paid as any other; at most 200 recipients in all.
    #[serde(default)]
    pub team_ids: Vec<Uuid>,
    /// Who may see it (default `public`). Its points count on boards whatever it is.
    pub visibility: Option<Visibility>,
    pub message: String,
    /// Points for each recipient.
    pub points: i32,
    pub dimension: Option<Dimension>,
    /// The initiative this recognises, if any.
    pub initiative_id: Option<Uuid>,
    /// The company values it stands for (active values of the organisation, at most 10). A
    /// value's `#hashtag` in the message adds it too.
    #[serde(default)]
    pub value_ids: Vec<Uuid>,
}

/// Recognise on behalf of `giver` and answer the recognition as `giver` sees it.
pub async fn create(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    giver: Uuid,
    kind: GivingKind,
    new: &CreateRecognition,
    now: DateTime<Utc>,
) -> AppResult<Recognition> {
    let recorded = record(conn, org, giver, kind, new, now).await?;
    recorded.unsettled.settle(conn).await?;
    Ok(recorded.view)
}

/// Recognise `new.recipients` on behalf of `giver`, points included. Checks every rule.
pub async fn give(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    giver: Uuid,
    kind: GivingKind,
    new: &CreateRecognition,
    now: DateTime<Utc>,
) -> AppResult<Uuid> {
    let recorded = record(conn, org, giver, kind, new, now).await?;
    recorded.unsettled.settle(conn).await?;
    Ok(recorded.view.id)
}

/// A recognition written, its points not yet: [`Unsettled::settle`] must follow in the same
/// transaction.
#[must_use = "the recipients' points are only written by settle"]
pub struct Unsettled {
    org: Uuid,
    involved: Vec<Uuid>,
    credits: Vec<Credit>,
}

impl Unsettled {
    /// Write the recipients' points and what the recognition earned (badges, challenges).
    pub async fn settle(self, conn: &mut AsyncPgConnection) -> AppResult<()> {
        crate::gamification::settle(conn, self.org, &self.involved, self.credits).await
    }
}

/// A recognition as its giver sees it, made from what was written rather than read back (a
/// new recognition has no reactions yet), and its points still to settle.
pub struct Recorded {
    pub view: Recognition,
    pub unsettled: Unsettled,
}

/// [`give`] without its points: everything is checked and written but the ledger entries.
/// `now` decides the day of the daily cap and the month of the allowance.
pub async fn record(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    giver: Uuid,
    kind: GivingKind,
    new: &CreateRecognition,
    now: DateTime<Utc>,
) -> AppResult<Recorded> {
    // Every rule is checked here, not in the handler, so no caller (the demo, a future
    // import) can skip one.
    let message = check_shape(giver, new)?;
    let CreateRecognition {
        points,
        dimension,
        initiative_id,
        ..
    } = new;
    let (rules, time_zone) = rules::load_with_time_zone(conn, org).await?;
    let Checked {
        named,
        carried,
        recipients,
        teams,
    } = check_against_organisation(conn, org, giver, new, &rules).await?;
    let recipients = &recipients;
    let visibility = new.visibility.unwrap_or(Visibility::Public);
    let tz = periods::parse_tz(&time_zone);
    let cost = i64::from(*points) * recipients.len() as i64;
    // Takes the giver's balance row lock: everything below sees every earlier recognition by
    // this giver, committed.
    let period = giving::spend(conn, org, giver, kind, cost, tz, &rules, now).await?;
    if kind == GivingKind::Peer {
        let today = periods::day_bounds(tz, now);
        let (_, month_start, next_month) = periods::month_bounds(tz, now);
        let month = (month_start, next_month);
        let given = queries::peer_points_given(conn, org, giver, recipients, month).await?;
        check_caps(recipients, &given, *points, today.0, &rules)?;
    }

    let row = NewRecognition {
        giver,
        kind,
        message: &message,
        points_each: *points,
        dimension: *dimension,
        initiative_id: *initiative_id,
        giving_period_start: period,
        visibility,
    };
    let team_ids: Vec<Uuid> = teams.iter().map(|t| t.id).collect();
    let (id, created_at) = queries::insert(conn, org, &row, recipients, &team_ids, &named).await?;
    crate::values::attach(conn, org, id, created_at, &carried).await?;
    let received = Happened::new(Kind::RecognitionReceived, SubjectType::Recognition, id)
        .by(giver)
        .to(recipients.iter().copied())
        .data(serde_json::json!({ "points": points }));
    crate::events::emit(conn, org, &[received]).await?;
    let credits = recipients
        .iter()
        .map(|r| {
            Credit::new(*r, *points, Reason::RecognitionReceived)
                .source(SourceType::Recognition, id)
                .dimension(*dimension)
        })
        .collect();
    let name = |m: &Uuid| MemberRef {
        id: *m,
        display_name: named
            .get(m)
            .map(|n| n.display_name.clone())
            .unwrap_or_default(),
    };
    let mut shown: Vec<MemberRef> = recipients.iter().map(name).collect();
    // As the feed lists them (`queries::views`).
    shown.sort_by(|a, b| a.display_name.cmp(&b.display_name));
    let view = Recognition {
        id,
        giver: Some(name(&giver)),
        kind,
        message,
        points_each: *points,
        total_points: cost,
        dimension: *dimension,
        initiative_id: *initiative_id,
        recipients: shown,
        teams,
        visibility,
        status: Status::Active,
        values: carried.values,
        hashtags: carried.hashtags,
        boosts: Vec::new(),
        reactions: Vec::new(),
        comments: 0,
        created_at,
    };
    let mut involved = recipients.clone();
    involved.push(giver);
    Ok(Recorded {
        view,
        unsettled: Unsettled {
            org,
            involved,
            credits,
        },
    })
}

/// The rules a recognition meets on its own: a message, 1-50 distinct recipients other than
/// the giver, positive points. Answers the cleaned message.
fn check_shape(giver: Uuid, new: &CreateRecognition) -> AppResult<String> {
    let mut errors = Vec::new();
    let message = validation::text("message", &new.message, 2000, &mut errors);
    if new.recipients.is_empty() && new.team_ids.is_empty() {
        errors.push(FieldError::new(
            "recipients",
            "name at least one member (or team) to recognise",
        ));
    } else if new.recipients.len() > MAX_RECIPIENTS {
        errors.push(FieldError::new(
            "recipients",
            format!("at most {MAX_RECIPIENTS} members at once"),
        ));
    }
    let mut seen = HashSet::new();
    for (i, r) in new.recipients.iter().enumerate() {
        if *r == giver {
            errors.push(FieldError::new(
                format!("recipients[{i}]"),
                "you cannot recognise yourself",
            ));
        } else if !seen.insert(*r) {
            errors.push(FieldError::new(
                format!("recipients[{i}]"),
                "is listed twice",
            ));
        }
    }
    if new.points < 1 {
        errors.push(FieldError::new("points", "must be at least 1"));
    }
    if new.team_ids.len() > MAX_TEAMS {
        errors.push(FieldError::new(
            "team_ids",
            format!("at most {MAX_TEAMS} teams at once"),
        ));
    }
    let mut seen = HashSet::new();
    for (i, t) in new.team_ids.iter().enumerate() {
        if !seen.insert(*t) {
            errors.push(FieldError::new(format!("team_ids[{i}]"), "is listed twice"));
        }
    }
    check(errors)?;
    Ok(message)
}

/// What the organisation makes of a recognition: the giver and the recipients as it names
/// them, the values and hashtags it carries, every recipient (named and in its teams) and the
/// teams it names.
struct Checked {
    named: HashMap<Uuid, queries::Named>,
    carried: crate::values::Carried,
    recipients: Vec<Uuid>,
    teams: Vec<TeamRef>,
}

/// The rules that need the organisation: its points limit, its message length, its values,
/// active recipients, live teams, a known initiative.
async fn check_against_organisation(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    giver: Uuid,
    new: &CreateRecognition,
    rules: &rules::PointRules,
) -> AppResult<Checked> {
    let mut errors = Vec::new();
    let (teams, members_of_teams) = queries::live_teams(conn, org, &new.team_ids).await?;
    for (i, t) in new.team_ids.iter().enumerate() {
        if !teams.iter().any(|found| found.id == *t) {
            errors.push(FieldError::new(
                format!("team_ids[{i}]"),
                "no live team with that id in your organisation",
            ));
        }
    }
    let mut recipients = new.recipients.clone();
    for m in members_of_teams {
        if m != giver && !recipients.contains(&m) {
            recipients.push(m);
        }
    }
    if recipients.is_empty() {
        errors.push(FieldError::new(
            "team_ids",
            "these teams have no active member but you",
        ));
    } else if recipients.len() > MAX_TEAM_RECIPIENTS {
        errors.push(FieldError::new(
            "team_ids",
            format!("at most {MAX_TEAM_RECIPIENTS} recipients in all"),
        ));
    }
    let max_points = rules.max_points_per_recognition;
    let min_length = usize::try_from(rules.min_message_length).unwrap_or(1);
    if new.message.trim().chars().count() < min_length {
        errors.push(FieldError::new(
            "message",
            format!("must be at least {min_length} characters: say what they did"),
        ));
    }
    let carried =
        crate::values::resolve(conn, org, &new.value_ids, &new.message, &mut errors).await?;
    if rules.values_required && carried.values.is_empty() && new.value_ids.is_empty() {
        errors.push(FieldError::new(
            "value_ids",
            "name at least one company value (or its #hashtag in the message)",
        ));
    }
    if new.points > max_points {
        errors.push(FieldError::new(
            "points",
            format!("must be at most {max_points} per recipient"),
        ));
    }
    let mut ids = recipients.clone();
    ids.push(giver);
    let named = queries::active_members(conn, org, &ids).await?;
    for (i, r) in new.recipients.iter().enumerate() {
        if !named.contains_key(r) {
            errors.push(FieldError::new(
                format!("recipients[{i}]"),
                "no active member with that id in your organisation",
            ));
        }
    }
    if let Some(initiative) = new.initiative_id
        && !queries::initiative_exists(conn, org, initiative).await?
    {
        errors.push(FieldError::new(
            "initiative_id",
            "no initiative with that id in your organisation",
        ));
    }
    check(errors)?;
    Ok(Checked {
        named,
        carried,
        recipients,
        teams,
    })
}

/// A peer may give one colleague at most the daily cap a day and the monthly cap a month;
/// `given` is what they gave each recipient this month (one triple per recognition or boost),
/// `day_start` when today began.
pub(super) fn check_caps(
    recipients: &[Uuid],
    given: &[(Uuid, i32, DateTime<Utc>)],
    points: i32,
    day_start: DateTime<Utc>,
    rules: &rules::PointRules,
) -> AppResult<()> {
    let cap = rules.peer_daily_cap_per_recipient;
    let month_cap = rules.peer_monthly_cap_per_recipient;
    for r in recipients {
        let to_them = given.iter().filter(|(m, _, _)| m == r);
        let month: i64 = to_them.clone().map(|(_, p, _)| i64::from(*p)).sum();
        let today: i64 = to_them
            .filter(|(_, _, at)| *at >= day_start)
            .map(|(_, p, _)| i64::from(*p))
            .sum();
        if month + i64::from(points) > i64::from(month_cap) {
            return Err(AppError::Conflict {
                detail: format!(
                    "monthly cap reached: you may give one colleague at most {month_cap} points a month, and have given {month} to this one this month"
                ),
                extra: Some(
                    serde_json::json!({ "recipient": r, "given_this_month": month, "monthly_cap": month_cap }),
                ),
            });
        }
        if today + i64::from(points) > i64::from(cap) {
            return Err(AppError::Conflict {
                detail: format!(
                    "daily cap reached: you may give one colleague at most {cap} points a day, and have given {today} to this one today"
                ),
                extra: Some(
                    serde_json::json!({ "recipient": r, "given_today": today, "daily_cap": cap }),
                ),
            });
        }
    }
    Ok(())
}

/// Leave `member`'s reaction on a recognition; answers the recognition with its reactions.
pub async fn react(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    viewer: &Viewer,
    id: Uuid,
    kind: ReactionKind,
) -> AppResult<Recognition> {
    queries::load(conn, org, viewer, id).await?;
    queries::insert_reaction(conn, org, id, viewer.member, kind)
        .await
        .map_err(|e| match AppError::from(e) {
            AppError::Conflict { .. } => AppError::Conflict {
                detail: format!("you already reacted with {}", kind.as_str()),
                extra: Some(serde_json::json!({ "kind": kind })),
            },
            other => other,
        })?;
    queries::load(conn, org, viewer, id).await
}

/// Take back `member`'s reaction; 404 when they left none of that kind.
pub async fn unreact(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
    id: Uuid,
    kind: ReactionKind,
) -> AppResult<()> {
    if queries::delete_reaction(conn, org, id, member, kind).await? == 0 {
        return Err(AppError::NotFound(
            "you have no such reaction on that recognition".into(),
        ));
    }
    Ok(())
}

/// Set a team lead's own monthly budget; only team leads have one.
pub async fn set_lead_budget(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    lead: Uuid,
    monthly_points: i32,
    by: Uuid,
) -> AppResult<()> {
    if !(0..=MAX_LEAD_BUDGET).contains(&monthly_points) {
        return Err(AppError::invalid(
            "monthly_points",
            format!("must be between 0 and {MAX_LEAD_BUDGET}"),
        ));
    }
    let role = queries::member_role(conn, org, lead)
        .await?
        .ok_or_else(|| AppError::not_found("member"))?;
    if role != Role::TeamLead.as_str() {
        return Err(AppError::Conflict {
            detail: "only team leads have a recognition budget; make the member a team lead first"
                .into(),
            extra: Some(serde_json::json!({ "role": role })),
        });
    }
    giving::set_lead_budget(conn, org, lead, monthly_points, by).await
}
