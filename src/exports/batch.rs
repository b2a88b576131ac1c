//! One batch of an export: its members (or teams) and everything their rows need, read for
//! the whole range at once.

use std::collections::{BTreeMap, HashMap, HashSet};

use uuid::Uuid;

use super::params::Resolved;
use super::queries::{self, Activity, BatchQuery, MemberRow, TeamRow, ValueKey};
use super::render::{Cell, Pseudonymiser};
use crate::db::Conn;
use crate::error::AppResult;

/// Everything fixed before the stream starts.
pub struct Plan {
    pub organisation_id: Uuid,
    pub time_zone: String,
    pub min_group_size: i64,
    pub params: Resolved,
}

/// The KPIs named in their own columns; any other name goes to `other_kpis`.
const KPI_COLUMNS: [&str; 4] = ["csat", "nps", "ces", "fcr"];

#[derive(Default)]
pub(super) struct KpiSet {
    named: [Option<f64>; 4],
    other: Vec<(String, f64)>,
}

impl KpiSet {
    pub(super) fn cells(set: Option<&KpiSet>, out: &mut Vec<Cell>) {
        for i in 0..KPI_COLUMNS.len() {
            out.push(
                set.and_then(|s| s.named[i])
                    .map(Cell::Float)
                    .unwrap_or(Cell::Null),
            );
        }
        out.push(Cell::Pairs(
            set.map(|s| s.other.clone()).unwrap_or_default(),
        ));
    }
}

/// The organisation's company values, read once per export (in its snapshot): what the
/// `recognitions_by_value` column is keyed by.
pub(super) struct ValueKeys {
    hashtags: HashMap<Uuid, String>,
    /// Keys on every row: the active values' hashtags, and the filtered value's.
    always: Vec<String>,
}

impl ValueKeys {
    pub(super) async fn load(conn: &mut Conn, plan: &Plan) -> AppResult<ValueKeys> {
        let values: Vec<ValueKey> = queries::values(conn, plan.organisation_id).await?;
        let always = values
            .iter()
            .filter(|v| v.active || Some(v.id) == plan.params.value)
            .map(|v| v.hashtag.clone())
            .collect();
        Ok(ValueKeys {
            hashtags: values.into_iter().map(|v| (v.id, v.hashtag)).collect(),
            always,
        })
    }

    /// The `recognitions_by_value` cell: every key shown on every row (0 when none), and any
    /// other value the row has a count for, by hashtag.
    pub(super) fn cell(&self, counts: Option<&Vec<(Uuid, i64)>>, out: &mut Vec<Cell>) {
        let mut by_tag: BTreeMap<String, i64> =
            self.always.iter().map(|t| (t.clone(), 0)).collect();
        for (value, n) in counts.into_iter().flatten() {
            if let Some(tag) = self.hashtags.get(value) {
                by_tag.insert(tag.clone(), *n);
            }
        }
        out.push(Cell::Counts(by_tag.into_iter().collect()));
    }
}

pub(super) enum Subjects {
    Members(Vec<MemberRow>),
    Teams(Vec<TeamRow>),
}

/// One batch, with the cursor of the next row to emit.
pub(super) struct Batch {
    pub(super) subjects: Subjects,
    pub(super) activity: HashMap<(Uuid, usize), Activity>,
    /// Recognitions received per company value, per (member or team, period).
    pub(super) by_value: HashMap<(Uuid, usize), Vec<(Uuid, i64)>>,
    pub(super) kpis: HashMap<(Uuid, usize), KpiSet>,
    /// Team rows: members per (team, period).
    pub(super) headcount: HashMap<(Uuid, usize), i64>,
    /// Member rows of a pseudonymised export: teams below the minimum group size.
    pub(super) small_teams: HashSet<Uuid>,
    pub(super) subject: usize,
    pub(super) bucket: usize,
}

/// Reads everything the rows of `subjects` need, for the whole range: their activity, their
/// teams' KPIs, and team sizes.
pub(super) async fn aggregate(
    conn: &mut Conn,
    plan: &Plan,
    pseudonymiser: Option<&Pseudonymiser>,
    mut subjects: Subjects,
) -> AppResult<Batch> {
    let org = plan.organisation_id;
    let p = &plan.params;
    let buckets = p.buckets.clone();
    let index: HashMap<chrono::NaiveDate, usize> = buckets
        .iter()
        .enumerate()
        .map(|(i, b)| (b.start, i))
        .collect();
    let range_at = (
        buckets
            .as_slice()
            .first()
            .map(|b| b.start_at)
            .unwrap_or_default(),
        buckets
            .as_slice()
            .last()
            .map(|b| b.end_at)
            .unwrap_or_default(),
    );
    let range = (p.from, p.to);
    let granularity = p.granularity.as_str();
    let pseudonymise = p.pseudonymise;
    let tz = plan.time_zone.clone();
    let min_group_size = plan.min_group_size;
    if let (Subjects::Members(members), Some(ps)) = (&mut subjects, pseudonymiser) {
        members.sort_by_cached_key(|m| ps.pseudonym(m.id));
    }
    let (ids, teams): (Vec<Uuid>, Vec<Uuid>) = match &subjects {
        Subjects::Members(m) => {
            let mut teams: Vec<Uuid> = m.iter().filter_map(|r| r.team_id).collect();
            teams.sort_unstable();
            teams.dedup();
            (m.iter().map(|r| r.id).collect(), teams)
        }
        Subjects::Teams(t) => {
            let ids: Vec<Uuid> = t.iter().map(|r| r.id).collect();
            (ids.clone(), ids)
        }
    };
    let by = match &subjects {
        Subjects::Members(_) => queries::By::Member,
        Subjects::Teams(_) => queries::By::Team,
    };
    let query = BatchQuery {
        org,
        by,
        subjects: &ids,
        range: range_at,
        granularity,
        tz: &tz,
        value: p.value,
    };
    let activity_rows = queries::activity(conn, &query).await?;
    let mut activity = HashMap::with_capacity(activity_rows.len());
    for a in activity_rows {
        if let Some(&i) = index.get(&a.bucket) {
            activity.insert((a.subject, i), a);
        }
    }
    let mut by_value: HashMap<(Uuid, usize), Vec<(Uuid, i64)>> = HashMap::new();
    for c in queries::recognitions_by_value(conn, &query).await? {
        if let Some(&i) = index.get(&c.bucket) {
            by_value
                .entry((c.subject, i))
                .or_default()
                .push((c.value_id, c.recognitions));
        }
    }
    let mut kpis: HashMap<(Uuid, usize), KpiSet> = HashMap::new();
    if !teams.is_empty() {
        for k in queries::kpis(conn, org, &teams, range, granularity).await? {
            let Some(&i) = index.get(&k.bucket) else {
                continue;
            };
            let set = kpis.entry((k.team_id, i)).or_default();
            match KPI_COLUMNS.iter().position(|c| *c == k.kpi) {
                Some(n) => set.named[n] = Some(k.value),
                // DISTINCT ON ... ORDER BY kpi: already sorted by name.
                None => set.other.push((k.kpi, k.value)),
            }
        }
    }
    let mut headcount = HashMap::new();
    let mut small_teams = HashSet::new();
    match &subjects {
        Subjects::Teams(_) => {
            let spans: Vec<_> = buckets
                .iter()
                .map(|b| (b.start, b.start_at, b.end_at))
                .collect();
            for h in queries::team_headcounts(conn, org, &ids, &spans).await? {
                if let Some(&i) = index.get(&h.bucket) {
                    headcount.insert((h.team_id, i), h.members);
                }
            }
        }
        Subjects::Members(_) if pseudonymise && !teams.is_empty() => {
            let sizes: HashMap<Uuid, i64> = queries::current_team_sizes(conn, org, &teams)
                .await?
                .into_iter()
                .map(|s| (s.team_id, s.members))
                .collect();
            for t in &teams {
                if sizes.get(t).copied().unwrap_or(0) < min_group_size {
                    small_teams.insert(*t);
                }
            }
        }
        Subjects::Members(_) => {}
    }
    Ok(Batch {
        subjects,
        activity,
        by_value,
        kpis,
        headcount,
        small_teams,
        subject: 0,
        bucket: 0,
    })
}
