//! The engagement report: its shape, and how it is put together from the aggregates.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use diesel_async::AsyncPgConnection;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::queries::{self, Breakdown, Funnel, KpiSpan, Range};
use super::stats::{self, Undefined};
use crate::error::AppResult;
use crate::vocabulary::{Channel, Dimension};
use crate::{organisations, periods, teams};

/// Initiatives submitted in the range (a cohort), and how many of them have reached each
/// later status by now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InitiativeFunnel {
    pub submitted: i64,
    /// Approved, whatever happened next (implemented and measured ones included).
    pub approved: i64,
    /// Implemented (measured ones included).
    pub implemented: i64,
    pub measured: i64,
    pub declined: i64,
}

impl From<Funnel> for InitiativeFunnel {
    fn from(f: Funnel) -> Self {
        InitiativeFunnel {
            submitted: f.stages.submitted,
            approved: f.stages.approved,
            implemented: f.stages.implemented,
            measured: f.stages.measured,
            declined: f.declined,
        }
    }
}

/// The engagement figures of a team or of the organisation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Engagement {
    /// Active members now (not deactivated or erased). For the organisation: all of them,
    /// with or without a team.
    pub members: i64,
    /// Of `members`, those with any activity in the range (an initiative submitted, a
    /// recognition given or received, points earned). For a team: activity while in this
    /// team.
    pub participants: i64,
    /// `participants / members`, 0-1; `null` without members.
    pub participation_rate: Option<f64>,
    /// Of `members`, those who received a recognition in the range (for a team: while in it).
    pub recognised: i64,
    /// `recognised / members`, 0-1; `null` without members.
    pub recognition_reach: Option<f64>,
    pub initiatives: InitiativeFunnel,
    /// Net points earned by the ledger entries made in the range (reversals and debits
    /// subtract; redemptions, which spend points rather than earn them, are left out).
    pub points: i64,
    /// `points` by CX dimension; `none` for entries without one. Every key is present.
    pub points_by_dimension: BTreeMap<String, i64>,
    /// `points` by the channel of the initiative an entry came from; `other` for entries that
    /// did not come from an initiative. Every key is present.
    pub points_by_channel: BTreeMap<String, i64>,
    /// Recognitions received in the range, by company value (its hashtag): for a team, those
    /// naming one of its members, each once. Every active value is present.
    pub recognitions_by_value: BTreeMap<String, i64>,
}

/// A KPI value as the report shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KpiReading {
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub value: f64,
    pub sample_size: Option<i32>,
}

/// One KPI of a team over the range: its first and last current values, by period start.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KpiChange {
    pub kpi: String,
    /// How many periods starting in the range have a value.
    pub periods: i64,
    pub first: KpiReading,
    pub last: KpiReading,
    /// `last.value - first.value`; `null` with a single period (no change to measure).
    pub change: Option<f64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TeamEngagement {
    pub team_id: Uuid,
    pub name: String,
    /// Archived teams appear only when asked for with `team_id`.
    pub archived: bool,
    /// True when the team has fewer active members (`members`: not deactivated or erased) than
    /// the organisation's `min_group_size`: its engagement figures are left out, as in
    /// pseudonymised exports, because they would describe too few people. Its KPIs, which
    /// describe customers, stay.
    pub suppressed: bool,
    /// Absent when `suppressed`.
    #[serde(flatten)]
    #[schema(schema_with = engagement_unless_suppressed)]
    pub engagement: Option<Engagement>,
    /// Each KPI with a current value for a period starting in the range.
    pub kpis: Vec<KpiChange>,
}

/// The flattened figures: `Engagement`'s members, all of them or (suppressed) none. utoipa
/// would document "an `Engagement` or null", which a suppressed team's object is not.
fn engagement_unless_suppressed() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::PartialSchema;
    let mut schema = Engagement::schema();
    if let utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(figures)) = &mut schema
    {
        figures.required.clear();
        figures.description =
            Some("The team's engagement figures, all of them; none when `suppressed`.".into());
    }
    schema
}

/// Pearson's r across the live teams that are not suppressed, between participation rate and a
/// KPI's change.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Correlation {
    pub kpi: String,
    /// The engagement measure correlated with the KPI's change: `participation_rate`.
    pub with: String,
    /// Teams with both a participation rate and a change of this KPI.
    pub n: i64,
    /// From -1 to 1; `null` when `n` < 3 or either variable is the same for every team.
    pub r: Option<f64>,
    /// Why `r` is null.
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrganisationEngagement {
    #[serde(flatten)]
    pub engagement: Engagement,
    /// One per KPI any live team has a value for in the range, by name.
    pub correlations: Vec<Correlation>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EngagementReport {
    /// First day of the range, in the organisation's time zone.
    pub from: NaiveDate,
    /// Day after the range (exclusive).
    pub to: NaiveDate,
    pub time_zone: String,
    /// The range as instants: local midnight of `from` and of `to`.
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub organisation: OrganisationEngagement,
    /// Live teams by name (or only `team_id`'s).
    pub teams: Vec<TeamEngagement>,
}

fn rate(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn complete(
    found: Breakdown,
    keys: impl Iterator<Item = &'static str>,
    rest: &str,
) -> BTreeMap<String, i64> {
    let mut out: BTreeMap<String, i64> = keys.map(|k| (k.to_string(), 0)).collect();
    out.insert(rest.to_string(), 0);
    for (k, v) in found {
        *out.entry(k).or_default() += v;
    }
    out
}

fn engagement(
    members: i64,
    participants: i64,
    recognised: i64,
    funnel: Funnel,
    by_dimension: Breakdown,
    by_channel: Breakdown,
    by_value: (Breakdown, &[String]),
) -> Engagement {
    let points = by_dimension.values().sum();
    Engagement {
        members,
        participants,
        participation_rate: rate(participants, members),
        recognised,
        recognition_reach: rate(recognised, members),
        initiatives: funnel.into(),
        points,
        points_by_dimension: complete(
            by_dimension,
            Dimension::ALL.iter().map(|d| d.as_str()),
            "none",
        ),
        points_by_channel: complete(by_channel, Channel::ALL.iter().map(|c| c.as_str()), "other"),
        recognitions_by_value: {
            let (found, values) = by_value;
            let mut out: BTreeMap<String, i64> = values.iter().map(|v| (v.clone(), 0)).collect();
            out.extend(found);
            out
        },
    }
}

fn kpi_change(s: KpiSpan) -> KpiChange {
    KpiChange {
        change: (s.periods >= 2).then_some(s.last_value - s.first_value),
        kpi: s.kpi,
        periods: s.periods,
        first: KpiReading {
            period_start: s.first_start,
            period_end: s.first_end,
            value: s.first_value,
            sample_size: s.first_sample,
        },
        last: KpiReading {
            period_start: s.last_start,
            period_end: s.last_end,
            value: s.last_value,
            sample_size: s.last_sample,
        },
    }
}

/// Pearson's r per KPI between the live teams' participation rate and the KPI's change.
pub fn correlations(teams: &[TeamEngagement]) -> Vec<Correlation> {
    let live: Vec<&TeamEngagement> = teams.iter().filter(|t| !t.archived).collect();
    let names: BTreeSet<&str> = live
        .iter()
        .flat_map(|t| t.kpis.iter().map(|k| k.kpi.as_str()))
        .collect();
    names
        .into_iter()
        .map(|name| {
            let pairs: Vec<(f64, f64)> = live
                .iter()
                .filter_map(|t| {
                    let x = t.engagement.as_ref()?.participation_rate?;
                    let y = t.kpis.iter().find(|k| k.kpi == name)?.change?;
                    Some((x, y))
                })
                .collect();
            let (r, note) = match stats::pearson(&pairs) {
                Ok(r) => (Some(r), None),
                Err(Undefined::TooFewPairs) => (
                    None,
                    Some(format!(
                        "fewer than {} teams have both members and a change in {name} (values for \
                         two or more periods in the range)",
                        stats::MIN_PAIRS
                    )),
                ),
                Err(Undefined::NoVarianceX) => (
                    None,
                    Some("every team has the same participation rate; r is undefined".to_string()),
                ),
                Err(Undefined::NoVarianceY) => (
                    None,
                    Some(format!(
                        "every team has the same change in {name}; r is undefined"
                    )),
                ),
            };
            Correlation {
                kpi: name.to_string(),
                with: "participation_rate".to_string(),
                n: pairs.len() as i64,
                r,
                note,
            }
        })
        .collect()
}

/// The report on `from..to` (dates in the organisation's time zone), all teams or one.
pub async fn build(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    from: NaiveDate,
    to: NaiveDate,
    team_filter: Option<Uuid>,
) -> AppResult<EngagementReport> {
    if let Some(team) = team_filter {
        teams::find(conn, org, team).await?;
    }
    let organisation = organisations::find(conn, org).await?;
    let (time_zone, min_group_size) = (organisation.time_zone, organisation.min_group_size);
    let tz = periods::parse_tz(&time_zone);
    let range = Range {
        org,
        starts_at: periods::start_of_day(tz, from),
        ends_at: periods::start_of_day(tz, to),
        from,
        to,
    };

    let team_rows = queries::teams(conn, org, team_filter).await?;
    let members = queries::members(conn, org).await?;
    let participants = queries::participants(conn, &range).await?;
    let recognised = queries::recognised(conn, &range).await?;
    let funnel = queries::funnel(conn, &range).await?;
    let by_dimension = queries::points_by_dimension(conn, &range).await?;
    let by_channel = queries::points_by_channel(conn, &range).await?;
    let by_value = queries::recognitions_by_value(conn, &range).await?;
    let values = queries::active_hashtags(conn, org).await?;
    let mut kpis = queries::kpi_spans(conn, &range).await?;

    let hidden = complementary_suppression(
        &team_rows
            .iter()
            .map(|t| (t.id, members.of(t.id)))
            .collect::<Vec<_>>(),
        members.organisation,
        i64::from(min_group_size),
    );
    let all: Vec<TeamEngagement> = team_rows
        .into_iter()
        .map(|t| {
            let size = members.of(t.id);
            let suppressed = hidden.contains(&t.id);
            TeamEngagement {
                suppressed,
                engagement: (!suppressed).then(|| {
                    engagement(
                        size,
                        participants.of(t.id),
                        recognised.of(t.id),
                        funnel.of(t.id),
                        by_dimension.of(t.id),
                        by_channel.of(t.id),
                        (by_value.of(t.id), &values),
                    )
                }),
                kpis: kpis
                    .remove(&t.id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(kpi_change)
                    .collect(),
                team_id: t.id,
                name: t.name,
                archived: t.archived,
            }
        })
        .collect();
    let correlations = correlations(&all);
    let organisation = OrganisationEngagement {
        engagement: engagement(
            members.organisation,
            participants.organisation,
            recognised.organisation,
            funnel.organisation,
            by_dimension.organisation,
            by_channel.organisation,
            (by_value.organisation, &values),
        ),
        correlations,
    };
    let teams = match team_filter {
        Some(id) => all.into_iter().filter(|t| t.team_id == id).collect(),
        None => all,
    };
    Ok(EngagementReport {
        from,
        to,
        time_zone,
        starts_at: range.starts_at,
        ends_at: range.ends_at,
        organisation,
        teams,
    })
}

/// The teams whose figures are withheld: those with fewer than `min` active members, and then,
/// smallest first, as many more as it takes for the members the shown teams leave out (the
/// withheld teams' and the teamless) to be none or at least `min`. Otherwise the organisation's
/// totals minus the shown teams' would be a small group's figures by subtraction.
fn complementary_suppression(
    teams: &[(Uuid, i64)],
    organisation: i64,
    min: i64,
) -> std::collections::HashSet<Uuid> {
    let mut hidden: std::collections::HashSet<Uuid> = teams
        .iter()
        .filter(|(_, size)| *size < min)
        .map(|(id, _)| *id)
        .collect();
    let mut shown: Vec<(Uuid, i64)> = teams
        .iter()
        .filter(|(_, size)| *size >= min)
        .copied()
        .collect();
    shown.sort_by_key(|(id, size)| (*size, *id));
    let mut left_out = organisation - shown.iter().map(|(_, size)| size).sum::<i64>();
    for (id, size) in shown {
        if left_out <= 0 || left_out >= min {
            break;
        }
        hidden.insert(id);
        left_out += size;
    }
    hidden
}

#[cfg(test)]
mod suppression_tests {
    use super::complementary_suppression;
    use std::collections::HashSet;
    use uuid::Uuid;

    fn set(ids: &[Uuid]) -> HashSet<Uuid> {
        ids.iter().copied().collect()
    }

    #[test]
    fn a_lone_small_remainder_takes_the_smallest_shown_team_with_it() {
        let (a, b, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        // c (2 members) alone is withheld: 20 - 10 - 8 = 2 would reveal it.
        let hidden = complementary_suppression(&[(a, 10), (b, 8), (c, 2)], 20, 3);
        assert_eq!(hidden, set(&[c, b]));
    }

    #[test]
    fn nothing_more_is_withheld_when_the_remainder_is_large_enough_or_empty() {
        let (a, b, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        assert_eq!(
            complementary_suppression(&[(a, 10), (b, 8)], 18, 3),
            set(&[])
        );
        // Two small teams (1 + 2) leave out 3: an aggregate of three people may be shown.
        assert_eq!(
            complementary_suppression(&[(a, 10), (b, 1), (c, 2)], 13, 3),
            set(&[b, c])
        );
        // One teamless member is a small group too.
        assert_eq!(
            complementary_suppression(&[(a, 10), (b, 8)], 19, 3),
            set(&[b])
        );
    }
}
