//! What a client sends to set, change and list challenges, and its parsing: every offending
//! field is named in one 422.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rocket::form::FromForm;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    ChallengeScope, ChallengeStatus, MAX_DESCRIPTION, MAX_REWARD_POINTS, MAX_TARGET, MAX_TITLE,
    Metric,
};
use crate::auth::{Caller, Role};
use crate::error::{AppError, AppResult, FieldError};
use crate::gamification::badges::Criterion;
use crate::gamification::challenge_rules as rules;
use crate::http::{Cursor, check, page_limit, time_param, uuid_param};
use crate::ledger;
use crate::schema::{badges as badges_table, teams};
use crate::validation::{self, parsed, required};
use crate::vocabulary::{Channel, Dimension};

/// Set a challenge. Required: `title`, `scope`, `metric`, `target`, `ends_at`; all missing or
/// invalid fields are reported at once.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateChallenge {
    /// 1-200 characters, e.g. "20 empathy wins this month".
    #[schema(required = true, value_type = String)]
    pub title: Option<String>,
    /// Up to 2000 characters; line breaks allowed.
    pub description: Option<String>,
    /// `team` (with `team_id`) or `organisation`. Team leads: only `team`, their own.
    #[schema(required = true, value_type = ChallengeScope)]
    pub scope: Option<String>,
    /// The team, with `scope` `team`.
    #[schema(value_type = Option<Uuid>)]
    pub team_id: Option<String>,
    #[schema(required = true, value_type = Metric)]
    pub metric: Option<String>,
    /// Count only activity in this CX dimension.
    #[schema(value_type = Option<Dimension>)]
    pub dimension: Option<String>,
    /// Count only initiatives from this channel (initiative metrics only).
    #[schema(value_type = Option<Channel>)]
    pub channel: Option<String>,
    /// 1-10000000.
    #[schema(required = true, value_type = i64, minimum = 1, maximum = 10000000)]
    pub target: Option<i64>,
    /// RFC 3339; now when absent. Not in the past (up to a minute behind is taken as now),
    /// except for admins, who may backdate (activity since then counts; audited); within 365
    /// days.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub starts_at: Option<String>,
    /// RFC 3339, exclusive; after `starts_at`, in the future, at most 92 days after the start.
    #[schema(required = true, value_type = String, format = DateTime)]
    pub ends_at: Option<String>,
    /// Points for every participant on completion, 0-100000 (default 0) and at most the
    /// organisation's `challenge_reward_cap`. A team lead's reserves this (plus the badge's
    /// points) times the team's active members from their monthly recognition budget.
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 100000)]
    pub reward_points: Option<i64>,
    /// A badge of the organisation with criterion `challenge`, awarded to every participant.
    #[schema(value_type = Option<Uuid>)]
    pub reward_badge_id: Option<String>,
}

/// Change a challenge before it starts. Every field is optional; what is given is checked as
/// on creation.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateChallenge {
    /// 1-200 characters.
    pub title: Option<String>,
    /// Up to 2000 characters; line breaks allowed.
    pub description: Option<String>,
    /// 1-10000000.
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 10000000)]
    pub target: Option<i64>,
    /// RFC 3339; not in the past (admins may backdate; audited).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub starts_at: Option<String>,
    /// RFC 3339, exclusive; after `starts_at`, at most 92 days after it.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ends_at: Option<String>,
    /// 0-100000 and at most the organisation's `challenge_reward_cap`. A team lead's challenge
    /// gives its reservation back and reserves the new reward for the team's active members.
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 100000)]
    pub reward_points: Option<i64>,
}

#[derive(Debug, FromForm, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `active` (default: running now, ending soonest first), `upcoming` (starting soonest
    /// first) or `past` (ended most recently first). Completed challenges stay in their
    /// window's list.
    #[param(value_type = Option<ChallengeStatus>)]
    pub status: Option<String>,
    /// Only this team's challenges.
    #[param(value_type = Option<Uuid>)]
    pub team_id: Option<String>,
    /// Page size, 1-200 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page (with the same `status`).
    pub cursor: Option<String>,
}

impl CreateChallenge {
    /// Who may set what comes before what is valid: a team lead is told "not yours", not
    /// "invalid" (scope and team read leniently; their errors come with the others).
    pub fn authorise(&self, caller: &Caller) -> AppResult<()> {
        if caller.is(Role::TeamLead) {
            let team_id = self.team();
            let own = caller.team_id.is_some() && team_id == caller.team_id;
            if self.scope() == Some(ChallengeScope::Organisation) || (team_id.is_some() && !own) {
                return Err(AppError::Forbidden(
                    "team leads may set challenges only for their own team".into(),
                ));
            }
        }
        Ok(())
    }

    fn scope(&self) -> Option<ChallengeScope> {
        self.scope
            .as_deref()
            .and_then(|s| ChallengeScope::parse(s.trim()))
    }

    fn team(&self) -> Option<Uuid> {
        uuid_param("team_id", self.team_id.as_deref(), &mut Vec::new())
    }
}

fn scope(raw: &str, e: &mut Vec<FieldError>) -> Option<ChallengeScope> {
    let parsed = ChallengeScope::parse(raw.trim());
    if parsed.is_none() {
        e.push(FieldError::new("scope", "must be team or organisation"));
    }
    parsed
}

fn metric(raw: &str, e: &mut Vec<FieldError>) -> Option<Metric> {
    let parsed = Metric::parse(raw.trim());
    if parsed.is_none() {
        e.push(FieldError::new(
            "metric",
            format!(
                "must be one of {}",
                Metric::ALL.map(Metric::as_str).join(", ")
            ),
        ));
    }
    parsed
}

/// A whole number in `min..=max` that fits the column (`i32`).
fn whole(field: &str, raw: i64, (min, max): (i64, i64), e: &mut Vec<FieldError>) -> Option<i32> {
    if (min..=max).contains(&raw) {
        i32::try_from(raw).ok()
    } else {
        e.push(FieldError::new(
            field,
            format!("must be a whole number from {min} to {max}"),
        ));
        None
    }
}

fn target(raw: i64, e: &mut Vec<FieldError>) -> Option<i32> {
    whole("target", raw, (1, MAX_TARGET), e)
}

fn reward_points(raw: i64, e: &mut Vec<FieldError>) -> Option<i32> {
    whole("reward_points", raw, (0, MAX_REWARD_POINTS), e)
}

/// A validated challenge, to insert.
#[derive(Debug, Clone)]
pub struct NewChallenge {
    pub title: String,
    pub description: String,
    pub scope: ChallengeScope,
    pub team_id: Option<Uuid>,
    pub metric: Metric,
    pub dimension: Option<&'static str>,
    pub channel: Option<&'static str>,
    pub target: i32,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub backdated: bool,
    pub reward_points: i32,
    pub reward_badge_id: Option<Uuid>,
}

impl NewChallenge {
    /// Check what needs no database, naming every offending field. `may_backdate`: admins may
    /// start a window in the past.
    pub fn parse(
        req: CreateChallenge,
        now: DateTime<Utc>,
        may_backdate: bool,
    ) -> Result<NewChallenge, Vec<FieldError>> {
        let mut e = Vec::new();
        let scope = required("scope", req.scope.as_deref(), &mut e).and_then(|s| scope(s, &mut e));
        let team_id = uuid_param("team_id", req.team_id.as_deref(), &mut e);
        let title = required("title", req.title, &mut e)
            .map(|t| validation::text("title", &t, MAX_TITLE, &mut e));
        let description = req
            .description
            .map(|d| validation::long_text("description", &d, MAX_DESCRIPTION, false, &mut e))
            .unwrap_or_default();
        match (scope, req.team_id.is_some()) {
            (Some(ChallengeScope::Team), false) => {
                e.push(FieldError::new("team_id", "is required with scope team"));
            }
            (Some(ChallengeScope::Organisation), true) => e.push(FieldError::new(
                "team_id",
                "applies only to scope team; leave it out for the organisation",
            )),
            _ => {}
        }
        let metric =
            required("metric", req.metric.as_deref(), &mut e).and_then(|m| metric(m, &mut e));
        let dimension = req
            .dimension
            .as_deref()
            .and_then(|d| parsed(Dimension::parse_field(d.trim(), "dimension"), &mut e));
        let channel = req
            .channel
            .as_deref()
            .and_then(|c| parsed(Channel::parse_field(c.trim(), "channel"), &mut e));
        if req.channel.is_some() && metric.is_some_and(|m| !m.about_initiatives()) {
            e.push(FieldError::new(
                "channel",
                "applies only to initiatives_submitted and initiatives_approved",
            ));
        }
        let target = required("target", req.target, &mut e).and_then(|t| target(t, &mut e));
        let reward_points = match req.reward_points {
            None => Some(0),
            Some(p) => reward_points(p, &mut e),
        };
        let starts_at = match req.starts_at.as_deref() {
            None => Some(now),
            Some(raw) => time_param("starts_at", Some(raw), &mut e),
        };
        let ends_at = required("ends_at", req.ends_at.as_deref(), &mut e)
            .and_then(|raw| time_param("ends_at", Some(raw), &mut e));
        let window = rules::window(starts_at, ends_at, now, may_backdate, &mut e);
        let reward_badge_id = uuid_param("reward_badge_id", req.reward_badge_id.as_deref(), &mut e);
        let (
            Some(scope),
            Some(title),
            Some(metric),
            Some(target),
            Some(reward_points),
            Some(window),
            Some(ends_at),
        ) = (scope, title, metric, target, reward_points, window, ends_at)
        else {
            return Err(e);
        };
        if !e.is_empty() {
            return Err(e);
        }
        Ok(NewChallenge {
            title,
            description,
            scope,
            team_id: team_id.filter(|_| scope == ChallengeScope::Team),
            metric,
            dimension: dimension.map(|d| d.as_str()),
            channel: channel.map(|c| c.as_str()),
            target,
            starts_at: window.starts_at,
            ends_at,
            backdated: window.backdated,
            reward_points,
            reward_badge_id,
        })
    }

    /// [`NewChallenge::parse`], and what the body refers to checked against the organisation's
    /// rows (reward cap, team, badge), all offending fields in one 422.
    pub async fn validated(
        conn: &mut AsyncPgConnection,
        org: Uuid,
        req: CreateChallenge,
        now: DateTime<Utc>,
        may_backdate: bool,
    ) -> AppResult<NewChallenge> {
        let references = References::of(&req);
        let new = NewChallenge::parse(req, now, may_backdate);
        let mut errors = new.as_ref().err().cloned().unwrap_or_default();
        references.check(conn, org, &mut errors).await?;
        check(errors)?;
        new.map_err(|_| AppError::internal("validated challenge lacks a field"))
    }
}

/// What a new challenge refers to in the database, read leniently from the body (its own
/// errors are named by [`NewChallenge::parse`]), so that an invalid body has these checked too.
struct References {
    reward_points: Option<i32>,
    team: Option<Uuid>,
    badge: Option<Uuid>,
}

impl References {
    fn of(req: &CreateChallenge) -> References {
        let ignored = &mut Vec::new();
        References {
            reward_points: match req.reward_points {
                None => Some(0),
                Some(p) => reward_points(p, ignored),
            },
            team: req
                .team()
                .filter(|_| req.scope() == Some(ChallengeScope::Team)),
            badge: uuid_param("reward_badge_id", req.reward_badge_id.as_deref(), ignored),
        }
    }

    async fn check(
        &self,
        conn: &mut AsyncPgConnection,
        org: Uuid,
        e: &mut Vec<FieldError>,
    ) -> AppResult<()> {
        if let Some(reward) = self.reward_points {
            let cap = ledger::rules::load(conn, org).await?.challenge_reward_cap;
            rules::reward_within_cap(reward, cap, e);
        }
        if let Some(team) = self.team {
            let archived: Option<Option<DateTime<Utc>>> = teams::table
                .filter(teams::organisation_id.eq(org))
                .filter(teams::id.eq(team))
                .select(teams::archived_at)
                .first(conn)
                .await
                .optional()?;
            match archived {
                None => e.push(FieldError::new(
                    "team_id",
                    "no team with that id in your organisation",
                )),
                Some(Some(_)) => e.push(FieldError::new(
                    "team_id",
                    "that team is archived; choose a live team",
                )),
                Some(None) => {}
            }
        }
        if let Some(badge) = self.badge {
            let found: Option<(String, bool)> = badges_table::table
                .filter(badges_table::organisation_id.eq(org))
                .filter(badges_table::id.eq(badge))
                .select((badges_table::criterion, badges_table::active))
                .first(conn)
                .await
                .optional()?;
            match found {
                None => e.push(FieldError::new(
                    "reward_badge_id",
                    "no badge with that id in your organisation",
                )),
                Some((criterion, _)) if criterion != Criterion::Challenge.as_str() => {
                    e.push(FieldError::new(
                        "reward_badge_id",
                        "must be a badge with criterion challenge (awarded only by challenges)",
                    ))
                }
                Some((_, false)) => e.push(FieldError::new(
                    "reward_badge_id",
                    "that badge is inactive; activate it or choose another",
                )),
                Some(_) => {}
            }
        }
        Ok(())
    }
}

/// The fields of an [`UpdateChallenge`] that parsed.
#[derive(Debug, Clone)]
pub struct Change {
    pub title: Option<String>,
    pub description: Option<String>,
    pub target: Option<i32>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub reward_points: Option<i32>,
}

impl Change {
    /// Check what is given as on creation, naming every offending field.
    pub fn parse(req: UpdateChallenge) -> Result<Change, Vec<FieldError>> {
        let mut e = Vec::new();
        let change = Change {
            title: req
                .title
                .as_deref()
                .map(|t| validation::text("title", t, MAX_TITLE, &mut e)),
            description: req
                .description
                .as_deref()
                .map(|d| validation::long_text("description", d, MAX_DESCRIPTION, false, &mut e)),
            target: req.target.and_then(|t| target(t, &mut e)),
            reward_points: req.reward_points.and_then(|p| reward_points(p, &mut e)),
            starts_at: time_param("starts_at", req.starts_at.as_deref(), &mut e),
            ends_at: time_param("ends_at", req.ends_at.as_deref(), &mut e),
        };
        if e.is_empty() { Ok(change) } else { Err(e) }
    }
}

/// A parsed [`ListParams`].
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub status: ChallengeStatus,
    pub team: Option<Uuid>,
    pub limit: i64,
    /// The last row of the previous page: its sort key and id.
    pub after: Option<(DateTime<Utc>, Uuid)>,
}

impl ListQuery {
    pub fn parse(params: &ListParams) -> AppResult<ListQuery> {
        let mut e = Vec::new();
        let status = match params.status.as_deref().map(str::trim) {
            None => Some(ChallengeStatus::Active),
            Some(s) => {
                let parsed = ChallengeStatus::parse(s);
                if parsed.is_none() {
                    e.push(FieldError::new(
                        "status",
                        "must be active, upcoming or past",
                    ));
                }
                parsed
            }
        };
        let team = uuid_param("team_id", params.team_id.as_deref(), &mut e);
        let limit = page_limit(params.limit.as_deref(), &mut e);
        let cursor = Cursor::decode(params.cursor.as_deref(), &mut e);
        let after = cursor.as_ref().and_then(|c| {
            DateTime::parse_from_rfc3339(&c.key)
                .map(|t| (t.with_timezone(&Utc), c.id))
                .map_err(|_| {
                    e.push(FieldError::new(
                        "cursor",
                        "is not a cursor this API returned; start again without it",
                    ))
                })
                .ok()
        });
        check(e)?;
        let Some(status) = status else {
            return Err(AppError::internal("validated status missing"));
        };
        Ok(ListQuery {
            status,
            team,
            limit,
            after,
        })
    }
}
