//! Engagement exports: every column against the ledger and initiatives (member and team rows,
//! weekly and monthly, CSV, NDJSON and JSON), spreadsheet safety, pseudonyms, small-group
//! suppression, counts by company value and the `value_id` filter, the audit log, API keys,
//! refusals, format negotiation and a large export.
//!
//! The seeded organisation has activity two months ago and last month (written by SQL with
//! chosen times, as the domain would have written it) and this month (through the API).
//! Expected values come from independent SQL over the same tables, and a few are spelled out.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{Datelike, Days, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Oslo;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Date, Double, Nullable, Text, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use frontline::auth::Role;
use rocket::http::{Header, Status};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::*;

const EXPORT: &str = "/api/v1/exports/engagement";
const HYPERLINK: &str = "=HYPERLINK(\"http://x\")";

const MEMBER_HEADER: [&str; 22] = [
    "period",
    "period_start",
    "period_end",
    "member_id",
    "display_name",
    "email",
    "team_id",
    "team_name",
    "initiatives_submitted",
    "initiatives_approved",
    "initiatives_implemented",
    "initiatives_measured",
    "recognitions_given",
    "recognitions_received",
    "points_earned",
    "active",
    "csat",
    "nps",
    "ces",
    "fcr",
    "other_kpis",
    "recognitions_by_value",
];

const TEAM_HEADER: [&str; 20] = [
    "period",
    "period_start",
    "period_end",
    "team_id",
    "team_name",
    "members",
    "active_members",
    "initiatives_submitted",
    "initiatives_approved",
    "initiatives_implemented",
    "initiatives_measured",
    "recognitions_given",
    "recognitions_received",
    "points_earned",
    "csat",
    "nps",
    "ces",
    "fcr",
    "other_kpis",
    "recognitions_by_value",
];

const COUNTS: [&str; 7] = [
    "initiatives_submitted",
    "initiatives_approved",
    "initiatives_implemented",
    "initiatives_measured",
    "recognitions_given",
    "recognitions_received",
    "points_earned",
];

// ---------------------------------------------------------------------------------------------
// SQL helpers

async fn sql(app: &TestApp, q: &str) {
    let mut conn = app.db.conn().await;
    diesel::sql_query(q)
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{q}: {e}"));
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

async fn sql_id(app: &TestApp, q: &str) -> Uuid {
    let mut conn = app.db.conn().await;
    let row: IdRow = diesel::sql_query(q)
        .get_result(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{q}: {e}"));
    row.id
}

fn opt(id: Option<Uuid>) -> String {
    id.map(|i| format!("'{i}'"))
        .unwrap_or_else(|| "NULL".into())
}

/// The UTC instant (RFC 3339) of `hh:mm` local time in Oslo, `days` after `d`.
fn local(d: NaiveDate, days: u64, hh: u32, mm: u32) -> String {
    let naive = (d + Days::new(days)).and_hms_opt(hh, mm, 0).unwrap();
    Oslo.from_local_datetime(&naive)
        .single()
        .unwrap()
        .with_timezone(&Utc)
        .to_rfc3339()
}

async fn initiative(
    app: &TestApp,
    org: Uuid,
    author: Uuid,
    team: Option<Uuid>,
    at: &str,
    status: &str,
) -> Uuid {
    let outcome = if status == "measured" {
        format!("'CSAT', 78, '{at}'")
    } else {
        "NULL, NULL, NULL".into()
    };
    sql_id(
        app,
        &format!(
            "INSERT INTO initiatives (organisation_id, author_id, team_id, title, description, dimension, \
             channel, journey_stage, customer_value, organisation_value, ease, status, outcome_kpi, \
             outcome_result, outcome_measured_at, created_at, updated_at) \
             VALUES ('{org}', '{author}', {}, 'A win', 'Details', 'empathy', 'phone', 'after', 4, 3, 5, \
             '{status}', {outcome}, '{at}', '{at}') RETURNING id",
            opt(team)
        ),
    )
    .await
}

async fn event(app: &TestApp, org: Uuid, initiative: Uuid, actor: Uuid, kind: &str, at: &str) {
    sql(
        app,
        &format!(
            "INSERT INTO initiative_events (organisation_id, initiative_id, actor_id, kind, created_at) \
             VALUES ('{org}', '{initiative}', '{actor}', '{kind}', '{at}')"
        ),
    )
    .await;
}

/// A ledger entry written by SQL with a chosen time, as the domain would have written it,
/// built by name: `Entry::new(ana, 5, "initiative_submitted").team(care).at(&at)`, then
/// `.write(app, &org)`.
struct Entry {
    member: Uuid,
    team: Option<Uuid>,
    points: i32,
    reason: &'static str,
    at: Option<String>,
    /// The recognition that paid it.
    recognition: Option<Uuid>,
}

impl Entry {
    fn new(member: Uuid, points: i32, reason: &'static str) -> Entry {
        Entry {
            member,
            team: None,
            points,
            reason,
            at: None,
            recognition: None,
        }
    }

    /// Paid for this recognition (`source_type` `recognition`).
    fn paid_for(self, recognition: Uuid) -> Entry {
        Entry {
            recognition: Some(recognition),
            ..self
        }
    }

    /// The member's team at the time (none by default).
    fn team(self, team: impl Into<Option<Uuid>>) -> Entry {
        Entry {
            team: team.into(),
            ..self
        }
    }

    fn at(self, at: &str) -> Entry {
        Entry {
            at: Some(at.to_string()),
            ..self
        }
    }

    /// Writes the entry; an adjustment gets a note and the organisation's admin as its author,
    /// as the API writes them.
    async fn write(self, app: &TestApp, org: &Org) -> Uuid {
        let Entry {
            member,
            team,
            points,
            reason,
            at,
            recognition,
        } = self;
        let source_type = if recognition.is_some() {
            "'recognition'"
        } else {
            "NULL"
        };
        let at = at.expect("an entry needs a time: .at(..)");
        let (note, by) = if reason == "adjustment" {
            ("'by hand'".to_string(), format!("'{}'", org.admin.id))
        } else {
            ("NULL".to_string(), "NULL".to_string())
        };
        sql_id(
            app,
            &format!(
                "INSERT INTO ledger_entries (organisation_id, member_id, team_id, points, reason, source_type, source_id, note, created_by, created_at) \
                 VALUES ('{}', '{member}', {}, {points}, '{reason}', {source_type}, {}, {note}, {by}, '{at}') RETURNING id",
                org.id,
                opt(team),
                opt(recognition)
            ),
        )
        .await
    }
}

async fn reversal(app: &TestApp, entry: Uuid, admin: Uuid, at: &str) {
    sql(
        app,
        &format!(
            "INSERT INTO ledger_entries (organisation_id, member_id, team_id, points, reason, reverses, note, created_by, created_at) \
             SELECT organisation_id, member_id, team_id, -points, 'reversal', id, 'a mistake', '{admin}', '{at}' \
             FROM ledger_entries WHERE id = '{entry}'"
        ),
    )
    .await;
}

/// A recognition with its recipients (and their teams at the time), the company values it
/// carries, and their ledger entries; returns the ledger entries in recipient order.
async fn recognition(
    app: &TestApp,
    w: &World,
    giver: Uuid,
    recipients: &[(Uuid, Option<Uuid>)],
    values: &[Uuid],
    points: i32,
    at: &str,
) -> Vec<Uuid> {
    let org = w.org.id;
    let id = sql_id(
        app,
        &format!(
            "INSERT INTO recognitions (organisation_id, giver_id, kind, message, points_each, created_at) \
             VALUES ('{org}', '{giver}', 'peer', 'thanks', {points}, '{at}') RETURNING id"
        ),
    )
    .await;
    for value in values {
        sql(
            app,
            &format!(
                "INSERT INTO recognition_values (organisation_id, recognition_id, value_id, created_at) \
                 VALUES ('{org}', '{id}', '{value}', '{at}')"
            ),
        )
        .await;
    }
    let mut entries = Vec::new();
    for (member, team) in recipients {
        sql(
            app,
            &format!(
                "INSERT INTO recognition_recipients (organisation_id, recognition_id, member_id, team_id, created_at) \
                 VALUES ('{org}', '{id}', '{member}', {}, '{at}')",
                opt(*team)
            ),
        )
        .await;
        entries.push(
            Entry::new(*member, points, "recognition_received")
                .team(*team)
                .paid_for(id)
                .at(at)
                .write(app, &w.org)
                .await,
        );
    }
    entries
}

/// A team's KPI value for a period, recorded by the admin, built by name:
/// `Kpi::new(care, "csat", 4.1).period(from, to)`, optionally `.supersedes(earlier)`, then
/// `.write(app, &w)`.
struct Kpi {
    team: Uuid,
    name: &'static str,
    value: f64,
    period: Option<(NaiveDate, NaiveDate)>,
    supersedes: Option<Uuid>,
}

impl Kpi {
    fn new(team: Uuid, name: &'static str, value: f64) -> Kpi {
        Kpi {
            team,
            name,
            value,
            period: None,
            supersedes: None,
        }
    }

    /// [start, end), local dates.
    fn period(self, start: NaiveDate, end: NaiveDate) -> Kpi {
        Kpi {
            period: Some((start, end)),
            ..self
        }
    }

    /// The value this one corrects.
    fn supersedes(self, earlier: Uuid) -> Kpi {
        Kpi {
            supersedes: Some(earlier),
            ..self
        }
    }

    async fn write(self, app: &TestApp, w: &World) -> Uuid {
        let Kpi {
            team,
            name,
            value,
            period,
            supersedes,
        } = self;
        let (start, end) = period.expect("a KPI needs a period: .period(..)");
        sql_id(
            app,
            &format!(
                "INSERT INTO team_kpis (organisation_id, team_id, kpi, period_start, period_end, value, supersedes, recorded_by, recorded_at) \
                 VALUES ('{}', '{team}', '{name}', '{start}', '{end}', {value}, {}, '{}', clock_timestamp()) RETURNING id",
                w.org.id,
                opt(supersedes),
                w.org.admin.id
            ),
        )
        .await
    }
}

// ---------------------------------------------------------------------------------------------
// The seeded organisation

struct World {
    org: Org,
    hr: Actor,
    ana: Actor,
    lars: Actor,
    ben: Uuid,
    cy: Uuid,
    di: Uuid,
    eve: Uuid,
    fay: Uuid,
    gus: Uuid,
    hal: Uuid,
    care: Uuid,
    store: Uuid,
    field: Uuid,
    /// Company values: `#CustomerFirst` and `#OwnIt` (active), `#OldWay` (inactive).
    first: Uuid,
    own_it: Uuid,
    old_way: Uuid,
    /// Local first days of the month before last, last month and this month.
    m2: NaiveDate,
    m1: NaiveDate,
    m0: NaiveDate,
}

impl World {
    /// `?from=<from>&to=<first day of next month>`: explicit, so that the tests mean the same
    /// on the first day of a month (when the default `to`, today, is a period boundary).
    fn range(&self, from: NaiveDate) -> String {
        format!("?from={from}&to={}", self.m0 + Months::new(1))
    }
}

fn this_month() -> NaiveDate {
    let today = Utc::now().with_timezone(&Oslo).date_naive();
    today.with_day(1).unwrap()
}

/// A company value, created by the admin.
async fn add_value(app: &TestApp, org: &Org, name: &str, hashtag: &str) -> Uuid {
    let r = app
        .post(
            "/api/v1/values",
            &org.admin.token,
            json!({ "name": name, "hashtag": hashtag }),
        )
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    id_of(&r.body)
}

async fn deactivate_value(app: &TestApp, org: &Org, value: Uuid) {
    app.patch(
        &format!("/api/v1/values/{value}"),
        &org.admin.token,
        json!({ "active": false }),
    )
    .await
    .ok();
}

/// Care: Ana, Cy, Di, Lars (lead) and Ben until he moves to Store in the middle of last month.
/// Store: Eve, Fay (named `=HYPERLINK("http://x")`), Gus. Field: Hal, deactivated late last month.
/// Hanna is HR and the admin has no team. Everyone joined over a year ago. The organisation's
/// values are `#CustomerFirst`, `#OwnIt` and `#OldWay` (no longer active).
async fn world(app: &TestApp) -> World {
    let org = app.seed_org("acme").await;
    let care = app.team(&org, "Care").await;
    let store = app.team(&org, "Store").await;
    let field = app.team(&org, "Field").await;
    let hr = app.member(&org, "Hanna HR", Role::Hr, None).await;
    let ana = app.member(&org, "Ana", Role::Employee, Some(care)).await;
    let lars = app.member(&org, "Lars", Role::TeamLead, Some(care)).await;
    let ben = app.member(&org, "Ben", Role::Employee, Some(care)).await.id;
    let cy = app.member(&org, "Cy", Role::Employee, Some(care)).await.id;
    let di = app.member(&org, "Di", Role::Employee, Some(care)).await.id;
    let eve = app
        .member(&org, "Eve", Role::Employee, Some(store))
        .await
        .id;
    let gus = app
        .member(&org, "Gus", Role::Employee, Some(store))
        .await
        .id;
    let hal = app
        .member(&org, "Hal", Role::Employee, Some(field))
        .await
        .id;
    let r = app
        .post(
            "/api/v1/members",
            &org.admin.token,
            json!({ "email": "fay@acme.example", "display_name": HYPERLINK, "role": "employee",
                    "team_id": store, "password": PASSWORD }),
        )
        .await;
    let fay = id_of(r.ok());
    let first = add_value(app, &org, "Customer first", "CustomerFirst").await;
    let own_it = add_value(app, &org, "Own it", "OwnIt").await;
    let old_way = add_value(app, &org, "The old way", "OldWay").await;
    deactivate_value(app, &org, old_way).await;
    let m0 = this_month();
    let m1 = m0 - Months::new(1);
    let m2 = m0 - Months::new(2);
    // Everyone (teams, members, their team stints) dates from over a year ago, so that every
    // period of a default export (the last twelve months) is theirs.
    let joined = local(m0 - Months::new(13), 0, 9, 0);
    sql(
        app,
        &format!(
            "UPDATE members SET created_at = '{joined}' WHERE organisation_id = '{}'",
            org.id
        ),
    )
    .await;
    sql(
        app,
        &format!(
            "UPDATE teams SET created_at = '{joined}' WHERE organisation_id = '{}'",
            org.id
        ),
    )
    .await;
    sql(
        app,
        &format!(
            "UPDATE team_memberships SET started_at = '{joined}' WHERE organisation_id = '{}'",
            org.id
        ),
    )
    .await;
    World {
        org,
        hr,
        ana,
        lars,
        ben,
        cy,
        di,
        eve,
        fay,
        gus,
        hal,
        care,
        store,
        field,
        first,
        own_it,
        old_way,
        m2,
        m1,
        m0,
    }
}

/// The activity described in the module comment. Returns the world.
async fn seeded(app: &TestApp) -> World {
    let w = world(app).await;
    let (org, admin) = (w.org.id, w.org.admin.id);
    let (ana, lars, care, store, field) = (w.ana.id, w.lars.id, w.care, w.store, w.field);
    let (m2, m1) = (w.m2, w.m1);

    // The month before last.
    let at = local(m2, 1, 9, 0);
    let i1 = initiative(app, org, ana, Some(care), &at, "measured").await;
    Entry::new(ana, 5, "initiative_submitted")
        .team(care)
        .at(&at)
        .write(app, &w.org)
        .await;
    let at = local(m2, 2, 10, 0);
    event(app, org, i1, lars, "approved", &at).await;
    Entry::new(ana, 10, "initiative_approved")
        .team(care)
        .at(&at)
        .write(app, &w.org)
        .await;
    let at = local(m2, 9, 10, 0);
    event(app, org, i1, ana, "implemented", &at).await;
    Entry::new(ana, 20, "initiative_implemented")
        .team(care)
        .at(&at)
        .write(app, &w.org)
        .await;
    let at = local(m2, 4, 9, 0);
    let i2 = initiative(app, org, w.ben, Some(care), &at, "declined").await;
    Entry::new(w.ben, 5, "initiative_submitted")
        .team(care)
        .at(&at)
        .write(app, &w.org)
        .await;
    event(app, org, i2, lars, "declined", &local(m2, 5, 9, 0)).await;
    recognition(
        app,
        &w,
        w.ben,
        &[(ana, Some(care)), (w.cy, Some(care))],
        &[w.first, w.own_it],
        15,
        &local(m2, 11, 14, 0),
    )
    .await;
    // Care's CSAT for the month, then a correction; and an NPS below zero.
    let first = Kpi::new(care, "csat", 4.1)
        .period(m2, m1)
        .write(app, &w)
        .await;
    Kpi::new(care, "csat", 4.3)
        .period(m2, m1)
        .supersedes(first)
        .write(app, &w)
        .await;
    Kpi::new(care, "nps", -12.0)
        .period(m2, m1)
        .write(app, &w)
        .await;

    // Last month. Half past midnight local on the 1st is still the previous day in UTC.
    let at = local(m1, 0, 0, 30);
    initiative(app, org, w.eve, Some(store), &at, "submitted").await;
    Entry::new(w.eve, 5, "initiative_submitted")
        .team(store)
        .at(&at)
        .write(app, &w.org)
        .await;
    let at = local(m1, 1, 9, 0);
    let i4 = initiative(app, org, ana, Some(care), &at, "approved").await;
    Entry::new(ana, 5, "initiative_submitted")
        .team(care)
        .at(&at)
        .write(app, &w.org)
        .await;
    let at = local(m1, 2, 9, 0);
    event(app, org, i4, lars, "approved", &at).await;
    Entry::new(ana, 10, "initiative_approved")
        .team(care)
        .at(&at)
        .write(app, &w.org)
        .await;
    let at = local(m1, 3, 9, 0);
    event(app, org, i1, ana, "measured", &at).await;
    Entry::new(ana, 30, "initiative_measured")
        .team(care)
        .at(&at)
        .write(app, &w.org)
        .await;
    recognition(
        app,
        &w,
        ana,
        &[(w.ben, Some(care))],
        &[],
        10,
        &local(m1, 4, 12, 0),
    )
    .await;
    let cy_entry = recognition(
        app,
        &w,
        lars,
        &[(w.cy, Some(care))],
        &[w.old_way],
        20,
        &local(m1, 5, 12, 0),
    )
    .await;
    reversal(app, cy_entry[0], admin, &local(m1, 6, 12, 0)).await;
    Entry::new(w.di, 7, "adjustment")
        .team(care)
        .at(&local(m1, 7, 12, 0))
        .write(app, &w.org)
        .await;
    let at = local(m1, 8, 9, 0);
    initiative(app, org, w.hal, Some(field), &at, "submitted").await;
    Entry::new(w.hal, 5, "initiative_submitted")
        .team(field)
        .at(&at)
        .write(app, &w.org)
        .await;
    recognition(
        app,
        &w,
        w.fay,
        &[(w.gus, Some(store))],
        &[w.first],
        5,
        &local(m1, 9, 9, 0),
    )
    .await;
    // Ben moves from Care to Store, then recognises Eve.
    let moved = local(m1, 14, 12, 0);
    sql(
        app,
        &format!(
            "UPDATE team_memberships SET ended_at = '{moved}' WHERE member_id = '{}' AND ended_at IS NULL",
            w.ben
        ),
    )
    .await;
    sql(
        app,
        &format!(
            "INSERT INTO team_memberships (organisation_id, member_id, team_id, started_at) \
             VALUES ('{org}', '{}', '{store}', '{moved}')",
            w.ben
        ),
    )
    .await;
    sql(
        app,
        &format!(
            "UPDATE members SET team_id = '{store}' WHERE id = '{}'",
            w.ben
        ),
    )
    .await;
    recognition(
        app,
        &w,
        w.ben,
        &[(w.eve, Some(store))],
        &[w.own_it],
        10,
        &local(m1, 16, 12, 0),
    )
    .await;
    // Hal is deactivated late last month.
    sql(
        app,
        &format!(
            "UPDATE members SET deactivated_at = '{}' WHERE id = '{}'",
            local(m1, 20, 12, 0),
            w.hal
        ),
    )
    .await;
    // Weekly CSAT for Care in the first two full weeks of last month: the monthly export shows
    // the later one. Organisation-defined KPIs, and Store's first-contact resolution.
    let monday = m1 + Days::new(u64::from((7 - m1.weekday().num_days_from_monday()) % 7));
    Kpi::new(care, "csat", 4.0)
        .period(monday, monday + Days::new(7))
        .write(app, &w)
        .await;
    Kpi::new(care, "csat", 4.5)
        .period(monday + Days::new(7), monday + Days::new(14))
        .write(app, &w)
        .await;
    Kpi::new(care, "aht", 310.5)
        .period(m1, w.m0)
        .write(app, &w)
        .await;
    Kpi::new(care, "callbacks", 12.0)
        .period(m1, w.m0)
        .write(app, &w)
        .await;
    Kpi::new(store, "fcr", 0.82)
        .period(m1, w.m0)
        .write(app, &w)
        .await;

    // This month, through the API: Ana logs a win, Lars approves it and recognises her (for
    // #CustomerFirst), and an admin reverses the recognition's points.
    let r = app
        .post(
            "/api/v1/initiatives",
            &w.ana.token,
            json!({ "title": "Same-day callback", "description": "Fixed it.", "dimension": "empathy",
                    "channel": "phone", "journey_stage": "after", "customer_value": 4,
                    "organisation_value": 3, "ease": 5 }),
        )
        .await;
    let win = id_of(r.ok());
    app.post(
        &format!("/api/v1/initiatives/{win}/approve"),
        &w.lars.token,
        json!({}),
    )
    .await
    .ok();
    app.post(
        "/api/v1/recognitions",
        &w.lars.token,
        json!({ "recipients": [w.ana.id], "message": "Great call", "points": 25,
                "value_ids": [w.first] }),
    )
    .await
    .ok();
    let points = app.get("/api/v1/me/points", &w.ana.token).await;
    let entry = points.ok()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["reason"] == "recognition_received")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post(
        &format!("/api/v1/ledger/{entry}/reverse"),
        &w.org.admin.token,
        json!({ "reason": "given twice" }),
    )
    .await
    .ok();
    w
}

// ---------------------------------------------------------------------------------------------
// Expectations from independent SQL

#[derive(QueryableByName, Debug, Default, PartialEq)]
struct Expected {
    #[diesel(sql_type = BigInt)]
    submitted: i64,
    #[diesel(sql_type = BigInt)]
    approved: i64,
    #[diesel(sql_type = BigInt)]
    implemented: i64,
    #[diesel(sql_type = BigInt)]
    measured: i64,
    #[diesel(sql_type = BigInt)]
    given: i64,
    #[diesel(sql_type = BigInt)]
    received: i64,
    #[diesel(sql_type = BigInt)]
    points: i64,
    #[diesel(sql_type = BigInt)]
    entries: i64,
    #[diesel(sql_type = BigInt)]
    earning_entries: i64,
    #[diesel(sql_type = BigInt)]
    members: i64,
    #[diesel(sql_type = BigInt)]
    active_members: i64,
    #[diesel(sql_type = BigInt)]
    enrolled: i64,
}

impl Expected {
    fn counts(&self) -> [i64; 7] {
        [
            self.submitted,
            self.approved,
            self.implemented,
            self.measured,
            self.given,
            self.received,
            self.points,
        ]
    }

    fn active(&self) -> bool {
        self.counts()[..6].iter().sum::<i64>() + self.earning_entries > 0
    }

    fn any_activity(&self) -> bool {
        self.counts()[..6].iter().sum::<i64>() + self.entries > 0
    }
}

/// With a value (`$4`): the recognitions carrying it, and the ledger entries paid for them or
/// reversing those. Without one (`$4` null), every recognition and entry.
const VALUED: &str = "carrying AS (SELECT recognition_id FROM recognition_values WHERE value_id = $4), \
     valued AS ( \
       SELECT p.id FROM ledger_entries p WHERE p.source_type = 'recognition' AND p.source_id IN (SELECT recognition_id FROM carrying) \
       UNION SELECT q.id FROM ledger_entries q JOIN ledger_entries p ON p.id = q.reverses \
         WHERE p.source_type = 'recognition' AND p.source_id IN (SELECT recognition_id FROM carrying))";

/// A member's numbers for the local days [start, end), by correlated subqueries; with `value`,
/// recognitions given and received, and points, of that value only.
async fn expected_member(
    app: &TestApp,
    member: Uuid,
    start: NaiveDate,
    end: NaiveDate,
    value: Option<Uuid>,
) -> Expected {
    let mut conn = app.db.conn().await;
    diesel::sql_query(format!(
        "WITH b AS (SELECT ($2::date::timestamp AT TIME ZONE 'Europe/Oslo') AS s, \
                           ($3::date::timestamp AT TIME ZONE 'Europe/Oslo') AS e), {VALUED} \
         SELECT \
          (SELECT count(*) FROM initiatives i WHERE i.author_id = $1 AND i.created_at >= b.s AND i.created_at < b.e) AS submitted, \
          (SELECT count(*) FROM initiative_events v JOIN initiatives i ON i.id = v.initiative_id \
            WHERE i.author_id = $1 AND v.kind = 'approved' AND v.created_at >= b.s AND v.created_at < b.e) AS approved, \
          (SELECT count(*) FROM initiative_events v JOIN initiatives i ON i.id = v.initiative_id \
            WHERE i.author_id = $1 AND v.kind = 'implemented' AND v.created_at >= b.s AND v.created_at < b.e) AS implemented, \
          (SELECT count(*) FROM initiative_events v JOIN initiatives i ON i.id = v.initiative_id \
            WHERE i.author_id = $1 AND v.kind = 'measured' AND v.created_at >= b.s AND v.created_at < b.e) AS measured, \
          (SELECT count(*) FROM recognitions r WHERE r.giver_id = $1 AND r.created_at >= b.s AND r.created_at < b.e \
            AND ($4::uuid IS NULL OR r.id IN (SELECT recognition_id FROM carrying))) AS given, \
          (SELECT count(*) FROM recognition_recipients r WHERE r.member_id = $1 AND r.created_at >= b.s AND r.created_at < b.e \
            AND ($4::uuid IS NULL OR r.recognition_id IN (SELECT recognition_id FROM carrying))) AS received, \
          (SELECT coalesce(sum(points), 0)::bigint FROM ledger_entries l WHERE l.member_id = $1 AND l.created_at >= b.s AND l.created_at < b.e \
            AND ($4::uuid IS NULL OR l.id IN (SELECT id FROM valued))) AS points, \
          (SELECT count(*) FROM ledger_entries l WHERE l.member_id = $1 AND l.created_at >= b.s AND l.created_at < b.e) AS entries, \
          (SELECT count(*) FROM ledger_entries l WHERE l.member_id = $1 AND l.reason NOT IN ('adjustment', 'reversal') \
            AND l.created_at >= b.s AND l.created_at < b.e) AS earning_entries, \
          0::bigint AS members, 0::bigint AS active_members, \
          (SELECT count(*) FROM members m WHERE m.id = $1 AND m.created_at < b.e \
            AND (m.deactivated_at IS NULL OR m.deactivated_at > b.s)) AS enrolled \
         FROM b"
    ))
    .bind::<SqlUuid, _>(member)
    .bind::<Date, _>(start)
    .bind::<Date, _>(end)
    .bind::<Nullable<SqlUuid>, _>(value)
    .get_result(&mut conn)
    .await
    .unwrap()
}

/// A team's numbers for [start, end): each event for the team its member was in at the time;
/// with `value`, recognitions given and received, and points, of that value only.
async fn expected_team(
    app: &TestApp,
    team: Uuid,
    start: NaiveDate,
    end: NaiveDate,
    value: Option<Uuid>,
) -> Expected {
    let mut conn = app.db.conn().await;
    diesel::sql_query(format!(
        "WITH b AS (SELECT ($2::date::timestamp AT TIME ZONE 'Europe/Oslo') AS s, \
                           ($3::date::timestamp AT TIME ZONE 'Europe/Oslo') AS e), {VALUED}, \
         acts AS ( \
           SELECT i.author_id AS who, 'x' AS what FROM initiatives i, b WHERE i.team_id = $1 AND i.created_at >= b.s AND i.created_at < b.e \
           UNION ALL SELECT i.author_id, v.kind FROM initiative_events v JOIN initiatives i ON i.id = v.initiative_id, b \
             WHERE i.team_id = $1 AND v.kind IN ('approved', 'implemented', 'measured') AND v.created_at >= b.s AND v.created_at < b.e \
           UNION ALL SELECT r.giver_id, CASE WHEN $4::uuid IS NULL OR r.id IN (SELECT recognition_id FROM carrying) \
                                             THEN 'given' ELSE 'given, of another value' END \
             FROM recognitions r, b WHERE r.created_at >= b.s AND r.created_at < b.e \
             AND EXISTS (SELECT 1 FROM team_memberships t WHERE t.member_id = r.giver_id AND t.team_id = $1 \
                         AND t.started_at <= r.created_at AND coalesce(t.ended_at, 'infinity') > r.created_at) \
           UNION ALL SELECT r.member_id, 'received' FROM recognition_recipients r, b WHERE r.team_id = $1 AND r.created_at >= b.s AND r.created_at < b.e \
           UNION ALL SELECT l.member_id, l.reason FROM ledger_entries l, b WHERE l.team_id = $1 AND l.created_at >= b.s AND l.created_at < b.e \
         ) \
         SELECT \
          (SELECT count(*) FROM initiatives i WHERE i.team_id = $1 AND i.created_at >= b.s AND i.created_at < b.e) AS submitted, \
          (SELECT count(*) FROM initiative_events v JOIN initiatives i ON i.id = v.initiative_id \
            WHERE i.team_id = $1 AND v.kind = 'approved' AND v.created_at >= b.s AND v.created_at < b.e) AS approved, \
          (SELECT count(*) FROM initiative_events v JOIN initiatives i ON i.id = v.initiative_id \
            WHERE i.team_id = $1 AND v.kind = 'implemented' AND v.created_at >= b.s AND v.created_at < b.e) AS implemented, \
          (SELECT count(*) FROM initiative_events v JOIN initiatives i ON i.id = v.initiative_id \
            WHERE i.team_id = $1 AND v.kind = 'measured' AND v.created_at >= b.s AND v.created_at < b.e) AS measured, \
          (SELECT count(*) FROM acts WHERE what = 'given') AS given, \
          (SELECT count(*) FROM recognition_recipients r WHERE r.team_id = $1 AND r.created_at >= b.s AND r.created_at < b.e \
            AND ($4::uuid IS NULL OR r.recognition_id IN (SELECT recognition_id FROM carrying))) AS received, \
          (SELECT coalesce(sum(points), 0)::bigint FROM ledger_entries l WHERE l.team_id = $1 AND l.created_at >= b.s AND l.created_at < b.e \
            AND ($4::uuid IS NULL OR l.id IN (SELECT id FROM valued))) AS points, \
          (SELECT count(*) FROM ledger_entries l WHERE l.team_id = $1 AND l.created_at >= b.s AND l.created_at < b.e) AS entries, \
          0::bigint AS earning_entries, \
          (SELECT count(DISTINCT t.member_id) FROM team_memberships t JOIN members m ON m.id = t.member_id \
            WHERE t.team_id = $1 AND t.started_at < b.e AND coalesce(t.ended_at, 'infinity') > b.s \
              AND coalesce(m.deactivated_at, 'infinity') > b.s) AS members, \
          (SELECT count(DISTINCT who) FROM acts WHERE what NOT IN ('adjustment', 'reversal')) AS active_members, \
          (SELECT count(*) FROM teams t WHERE t.id = $1 AND t.created_at < b.e \
            AND (t.archived_at IS NULL OR t.archived_at > b.s)) AS enrolled \
         FROM b"
    ))
    .bind::<SqlUuid, _>(team)
    .bind::<Date, _>(start)
    .bind::<Date, _>(end)
    .bind::<Nullable<SqlUuid>, _>(value)
    .get_result(&mut conn)
    .await
    .unwrap()
}

#[derive(QueryableByName)]
struct ValueCountRow {
    #[diesel(sql_type = Text)]
    hashtag: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// `recognitions_by_value` of a member (`member_id`) or a team (`team_id`) for [start, end), as
/// its cell reads (`hashtag=n;...` by hashtag): every active value (and `value`, the filter),
/// and any other value received; a recognition once per member or team, and with `value` only
/// recognitions carrying it.
async fn expected_by_value(
    app: &TestApp,
    w: &World,
    column: &str,
    subject: Uuid,
    (start, end): (NaiveDate, NaiveDate),
    value: Option<Uuid>,
) -> String {
    let mut conn = app.db.conn().await;
    let counts: Vec<ValueCountRow> = diesel::sql_query(format!(
        "SELECT c.hashtag, count(DISTINCT rr.recognition_id) AS n \
         FROM recognition_recipients rr \
         JOIN recognition_values v ON v.recognition_id = rr.recognition_id \
         JOIN company_values c ON c.id = v.value_id \
         WHERE rr.{column} = $1 \
           AND rr.created_at >= ($2::date::timestamp AT TIME ZONE 'Europe/Oslo') \
           AND rr.created_at < ($3::date::timestamp AT TIME ZONE 'Europe/Oslo') \
           AND ($4::uuid IS NULL OR rr.recognition_id IN \
                (SELECT recognition_id FROM recognition_values WHERE value_id = $4)) \
         GROUP BY c.hashtag"
    ))
    .bind::<SqlUuid, _>(subject)
    .bind::<Date, _>(start)
    .bind::<Date, _>(end)
    .bind::<Nullable<SqlUuid>, _>(value)
    .load(&mut conn)
    .await
    .unwrap();
    let keys: Vec<ValueCountRow> = diesel::sql_query(
        "SELECT hashtag, 0::bigint AS n FROM company_values \
         WHERE organisation_id = $1 AND (active OR id = $2)",
    )
    .bind::<SqlUuid, _>(w.org.id)
    .bind::<Nullable<SqlUuid>, _>(value)
    .load(&mut conn)
    .await
    .unwrap();
    let cell: BTreeMap<String, i64> = keys
        .into_iter()
        .chain(counts)
        .map(|r| (r.hashtag, r.n))
        .collect();
    cell.iter()
        .map(|(k, n)| format!("{k}={n}"))
        .collect::<Vec<_>>()
        .join(";")
}

#[derive(QueryableByName)]
struct KpiRow {
    #[diesel(sql_type = Text)]
    kpi: String,
    #[diesel(sql_type = Double)]
    value: f64,
}

/// A team's KPIs for [start, end): per name, the current value with the latest period start.
async fn expected_kpis(
    app: &TestApp,
    team: Option<Uuid>,
    start: NaiveDate,
    end: NaiveDate,
) -> BTreeMap<String, f64> {
    let Some(team) = team else {
        return BTreeMap::new();
    };
    let mut conn = app.db.conn().await;
    let rows: Vec<KpiRow> = diesel::sql_query(
        "SELECT kpi, value FROM team_kpis k WHERE team_id = $1 AND period_start >= $2 AND period_start < $3 \
         AND id NOT IN (SELECT supersedes FROM team_kpis WHERE supersedes IS NOT NULL) \
         ORDER BY period_start ASC, recorded_at ASC",
    )
    .bind::<SqlUuid, _>(team)
    .bind::<Date, _>(start)
    .bind::<Date, _>(end)
    .load(&mut conn)
    .await
    .unwrap();
    // Later rows overwrite earlier ones.
    rows.into_iter().map(|r| (r.kpi, r.value)).collect()
}

#[derive(QueryableByName, Clone, Debug)]
struct MemberInfo {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    display_name: String,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    team_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    team_name: Option<String>,
}

async fn members_of(app: &TestApp, org: Uuid) -> Vec<MemberInfo> {
    let mut conn = app.db.conn().await;
    diesel::sql_query(
        "SELECT m.id, m.display_name, m.email, m.team_id, t.name AS team_name \
         FROM members m LEFT JOIN teams t ON t.id = m.team_id WHERE m.organisation_id = $1",
    )
    .bind::<SqlUuid, _>(org)
    .load(&mut conn)
    .await
    .unwrap()
}

#[derive(QueryableByName, Clone, Debug)]
struct TeamInfo {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    name: String,
}

async fn teams_of(app: &TestApp, org: Uuid) -> Vec<TeamInfo> {
    let mut conn = app.db.conn().await;
    diesel::sql_query("SELECT id, name FROM teams WHERE organisation_id = $1")
        .bind::<SqlUuid, _>(org)
        .load(&mut conn)
        .await
        .unwrap()
}

/// Ids in the documented row order: by name, case-insensitively in the database's collation
/// (the export sorts there, so the expectation must too), then by id.
async fn ids_by_name(app: &TestApp, table: &str, name: &str, org: Uuid) -> Vec<Uuid> {
    let mut conn = app.db.conn().await;
    let rows: Vec<IdRow> = diesel::sql_query(format!(
        "SELECT id FROM {table} WHERE organisation_id = $1 ORDER BY lower({name}), id"
    ))
    .bind::<SqlUuid, _>(org)
    .load(&mut conn)
    .await
    .unwrap();
    rows.into_iter().map(|r| r.id).collect()
}

/// Rows come by `key` in `order`, then by period: every row after the one before it.
fn assert_row_order(rows: &[Row], key: &str, order: &[Uuid]) {
    let rank: HashMap<String, usize> = order
        .iter()
        .enumerate()
        .map(|(i, id)| (id.to_string(), i))
        .collect();
    let keys: Vec<(usize, &str)> = rows
        .iter()
        .map(|r| (rank[&r[key]], r["period_start"].as_str()))
        .collect();
    if let Some(i) = keys.windows(2).position(|pair| pair[0] >= pair[1]) {
        panic!(
            "row {} comes after row {} out of order: {:?} then {:?}",
            i + 1,
            i,
            rows[i],
            rows[i + 1]
        );
    }
}

/// The periods of an export from `from` to `to` (already whole periods).
fn periods(
    granularity: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<(String, NaiveDate, NaiveDate)> {
    let mut out = Vec::new();
    let mut s = from;
    while s < to {
        let (e, label) = match granularity {
            "week" => (
                s + Days::new(7),
                format!("{}-W{:02}", s.iso_week().year(), s.iso_week().week()),
            ),
            _ => (s + Months::new(1), format!("{}-{:02}", s.year(), s.month())),
        };
        out.push((label, s, e));
        s = e;
    }
    out
}

fn monday_of(d: NaiveDate) -> NaiveDate {
    d - Days::new(u64::from(d.weekday().num_days_from_monday()))
}

// ---------------------------------------------------------------------------------------------
// Reading exports

async fn export(app: &TestApp, token: &str, query: &str, accept: Option<&str>) -> Resp {
    let mut req = app.client.get(format!("{EXPORT}{query}"));
    req.add_header(Header::new("Authorization", format!("Bearer {token}")));
    if let Some(a) = accept {
        req.add_header(Header::new("Accept", a.to_string()));
    }
    read(req.dispatch().await).await
}

type Row = BTreeMap<String, String>;

/// Parse with a real CSV parser; every record has as many fields as the header.
fn parse_csv(text: &str) -> (Vec<String>, Vec<Row>) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|r| {
            let r = r.expect("a well-formed CSV record");
            header
                .iter()
                .cloned()
                .zip(r.iter().map(String::from))
                .collect()
        })
        .collect();
    (header, rows)
}

fn parse_ndjson(text: &str) -> Vec<Value> {
    assert!(text.is_empty() || text.ends_with('\n'));
    text.lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

/// A JSON/NDJSON row as CSV would render it, to compare both with one function.
fn as_csv_row(v: &Value) -> Row {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let s = match v {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                Value::Object(m) => m
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(";"),
                other => other.to_string(),
            };
            (k.clone(), s)
        })
        .collect()
}

fn fmt_kpi(v: Option<&f64>) -> String {
    v.map(|v| format!("{v}")).unwrap_or_default()
}

fn kpi_cells_match(row: &Row, kpis: &BTreeMap<String, f64>, json: bool) {
    for name in ["csat", "nps", "ces", "fcr"] {
        let cell = &row[name];
        match kpis.get(name) {
            None => assert_eq!(cell, "", "{name} in {row:?}"),
            Some(v) => assert_eq!(cell.parse::<f64>().unwrap(), *v, "{name} in {row:?}"),
        }
    }
    let other: Vec<String> = kpis
        .iter()
        .filter(|(k, _)| !["csat", "nps", "ces", "fcr"].contains(&k.as_str()))
        .map(|(k, v)| {
            if json {
                format!("{k}={}", serde_json::json!(v))
            } else {
                format!("{k}={}", fmt_kpi(Some(v)))
            }
        })
        .collect();
    assert_eq!(row["other_kpis"], other.join(";"), "other_kpis in {row:?}");
}

/// Check every member row against independent SQL, and that exactly the expected rows exist.
/// With `value` (`value_id=`), recognitions and points are that value's; the rest is whole.
#[allow(clippy::too_many_arguments)]
async fn check_member_rows(
    app: &TestApp,
    w: &World,
    rows: &[Row],
    granularity: &str,
    from: NaiveDate,
    to: NaiveDate,
    json: bool,
    value: Option<Uuid>,
) {
    let periods = periods(granularity, from, to);
    let members = members_of(app, w.org.id).await;
    assert_row_order(
        rows,
        "member_id",
        &ids_by_name(app, "members", "display_name", w.org.id).await,
    );
    let mut seen = HashSet::new();
    for row in rows {
        let member = members
            .iter()
            .find(|m| m.id.to_string() == row["member_id"])
            .unwrap_or_else(|| panic!("unknown member in {row:?}"));
        let (label, s, e) = periods
            .iter()
            .find(|p| p.0 == row["period"])
            .unwrap_or_else(|| panic!("unexpected period in {row:?}"));
        assert!(seen.insert((member.id, label.clone())), "duplicate {row:?}");
        assert_eq!(row["period_start"], s.to_string());
        assert_eq!(row["period_end"], e.to_string());
        let name = if json {
            member.display_name.clone()
        } else if member.display_name.starts_with('=') {
            format!("'{}", member.display_name)
        } else {
            member.display_name.clone()
        };
        assert_eq!(row["display_name"], name);
        assert_eq!(row["email"], member.email);
        assert_eq!(
            row["team_id"],
            member.team_id.map(|t| t.to_string()).unwrap_or_default()
        );
        assert_eq!(
            row["team_name"],
            member.team_name.clone().unwrap_or_default()
        );
        let exp = expected_member(app, member.id, *s, *e, None).await;
        let narrowed = expected_member(app, member.id, *s, *e, value).await;
        for (col, want) in COUNTS.iter().zip(narrowed.counts()) {
            assert_eq!(row[*col], want.to_string(), "{col} of {row:?}");
        }
        assert_eq!(row["active"], exp.active().to_string(), "active of {row:?}");
        kpi_cells_match(row, &expected_kpis(app, member.team_id, *s, *e).await, json);
        assert_eq!(
            row["recognitions_by_value"],
            expected_by_value(app, w, "member_id", member.id, (*s, *e), value).await,
            "recognitions_by_value of {row:?}"
        );
    }
    // Every member who was a member in a period, or had activity in it, has a row.
    for member in &members {
        for (label, s, e) in &periods {
            let exp = expected_member(app, member.id, *s, *e, None).await;
            let want = exp.enrolled > 0 || exp.any_activity();
            assert_eq!(
                seen.contains(&(member.id, label.clone())),
                want,
                "row of {} in {label}",
                member.display_name
            );
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn check_team_rows(
    app: &TestApp,
    w: &World,
    rows: &[Row],
    granularity: &str,
    from: NaiveDate,
    to: NaiveDate,
    json: bool,
    value: Option<Uuid>,
) {
    let periods = periods(granularity, from, to);
    let teams = teams_of(app, w.org.id).await;
    assert_row_order(
        rows,
        "team_id",
        &ids_by_name(app, "teams", "name", w.org.id).await,
    );
    let mut seen = HashSet::new();
    for row in rows {
        let team = teams
            .iter()
            .find(|t| t.id.to_string() == row["team_id"])
            .unwrap_or_else(|| panic!("unknown team in {row:?}"));
        let (label, s, e) = periods.iter().find(|p| p.0 == row["period"]).unwrap();
        assert!(seen.insert((team.id, label.clone())), "duplicate {row:?}");
        assert_eq!(row["period_start"], s.to_string());
        assert_eq!(row["period_end"], e.to_string());
        assert_eq!(row["team_name"], team.name);
        let exp = expected_team(app, team.id, *s, *e, None).await;
        let narrowed = expected_team(app, team.id, *s, *e, value).await;
        for (col, want) in COUNTS.iter().zip(narrowed.counts()) {
            assert_eq!(row[*col], want.to_string(), "{col} of {row:?}");
        }
        assert_eq!(
            row["recognitions_by_value"],
            expected_by_value(app, w, "team_id", team.id, (*s, *e), value).await,
            "recognitions_by_value of {row:?}"
        );
        assert_eq!(
            row["members"],
            exp.members.to_string(),
            "members of {row:?}"
        );
        assert_eq!(
            row["active_members"],
            exp.active_members.to_string(),
            "active_members of {row:?}"
        );
        kpi_cells_match(row, &expected_kpis(app, Some(team.id), *s, *e).await, json);
    }
    for team in &teams {
        for (label, s, e) in &periods {
            let exp = expected_team(app, team.id, *s, *e, None).await;
            let want = exp.enrolled > 0 || exp.members > 0 || exp.any_activity();
            assert_eq!(
                seen.contains(&(team.id, label.clone())),
                want,
                "{} {label}",
                team.name
            );
        }
    }
}

fn row_of<'a>(rows: &'a [Row], key: &str, value: &str, period: &str) -> &'a Row {
    rows.iter()
        .find(|r| r[key] == value && r["period"] == period)
        .unwrap_or_else(|| panic!("no row with {key} = {value} in {period}"))
}

fn label(d: NaiveDate) -> String {
    format!("{}-{:02}", d.year(), d.month())
}

fn counts_of(row: &Row) -> Vec<i64> {
    COUNTS.iter().map(|c| row[*c].parse().unwrap()).collect()
}

#[derive(QueryableByName)]
struct AuditRow {
    #[diesel(sql_type = Nullable<SqlUuid>)]
    actor_member_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    actor_api_key_id: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    details: Value,
}

async fn export_audits(app: &TestApp, org: Uuid) -> Vec<AuditRow> {
    let mut conn = app.db.conn().await;
    diesel::sql_query(
        "SELECT actor_member_id, actor_api_key_id, details FROM audit_log \
         WHERE organisation_id = $1 AND action = 'export' ORDER BY at",
    )
    .bind::<SqlUuid, _>(org)
    .load(&mut conn)
    .await
    .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Tests

#[rocket::async_test]
async fn monthly_member_rows_in_csv_match_the_ledger_and_initiatives_column_by_column() {
    let app = TestApp::new().await;
    let w = seeded(&app).await;
    let to = w.m0 + Months::new(1);
    let r = export(
        &app,
        &w.hr.token,
        &format!("?from={}&to={to}&granularity=month", w.m2),
        None,
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{}", r.text);
    assert_eq!(r.content_type.as_deref(), Some("text/csv"));
    assert!(r.header("content-type").unwrap().contains("charset=utf-8"));
    assert_eq!(
        r.header("content-disposition").unwrap(),
        format!(
            "attachment; filename=\"engagement-acme-members-month-{}_{to}.csv\"",
            w.m2
        )
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    // UTF-8 with a byte order mark, a header row, CRLF line ends.
    assert!(r.text.starts_with("\u{feff}period,period_start,"));
    assert!(r.text.ends_with("\r\n"));
    let (header, rows) = parse_csv(&r.text);
    assert_eq!(header, MEMBER_HEADER);
    check_member_rows(&app, &w, &rows, "month", w.m2, to, false, None).await;

    // A few numbers spelled out, so the expectations above are anchored.
    let (m2, m1) = (label(w.m2), label(w.m1));
    let ana = w.ana.id.to_string();
    let row = row_of(&rows, "member_id", &ana, &m2);
    assert_eq!(counts_of(row), [1, 1, 1, 0, 0, 1, 50]);
    assert_eq!(row["active"], "true");
    assert_eq!(row["team_name"], "Care");
    assert_eq!(row["csat"], "4.3", "the correction wins");
    assert_eq!(row["nps"], "-12", "numbers stay numbers");
    assert_eq!(
        row["recognitions_by_value"], "CustomerFirst=1;OwnIt=1",
        "one recognition, under each of its values; no inactive value without a count"
    );
    let row = row_of(&rows, "member_id", &ana, &m1);
    assert_eq!(counts_of(row), [1, 1, 0, 1, 1, 0, 45]);
    assert_eq!(row["csat"], "4.5", "the latest weekly value in the month");
    assert_eq!(row["other_kpis"], "aht=310.5;callbacks=12");
    let row = row_of(&rows, "member_id", &w.cy.to_string(), &m1);
    assert_eq!(counts_of(row), [0, 0, 0, 0, 0, 1, 0], "reversal included");
    assert_eq!(row["active"], "true");
    assert_eq!(
        row["recognitions_by_value"], "CustomerFirst=0;OldWay=1;OwnIt=0",
        "an inactive value with a count is shown"
    );
    let row = row_of(&rows, "member_id", &w.di.to_string(), &m1);
    assert_eq!(counts_of(row), [0, 0, 0, 0, 0, 0, 7]);
    assert_eq!(row["active"], "false", "an adjustment is not activity");
    assert_eq!(row["recognitions_by_value"], "CustomerFirst=0;OwnIt=0");
    // Ben moved: his rows carry his current team, Store.
    let row = row_of(&rows, "member_id", &w.ben.to_string(), &m2);
    assert_eq!(counts_of(row), [1, 0, 0, 0, 1, 0, 5]);
    assert_eq!(row["team_name"], "Store");
    assert_eq!(row["fcr"], "", "Store has no FCR that month");
    // Half past midnight on the 1st counts in the new month.
    let row = row_of(&rows, "member_id", &w.eve.to_string(), &m1);
    assert_eq!(counts_of(row), [1, 0, 0, 0, 0, 1, 15]);
    assert_eq!(row["fcr"], "0.82");
    // Hal was deactivated last month: no row this month.
    assert!(
        !rows
            .iter()
            .any(|r| r["member_id"] == w.hal.to_string() && r["period"] == label(w.m0))
    );
    // Formula injection: the name is text in the spreadsheet, not a formula.
    let row = row_of(&rows, "member_id", &w.fay.to_string(), &m1);
    assert_eq!(row["display_name"], format!("'{HYPERLINK}"));
    assert!(r.text.contains("\"'=HYPERLINK(\"\"http://x\"\")\""));
    assert_eq!(counts_of(row), [0, 0, 0, 0, 1, 0, 0]);

    // Points over all rows equal the ledger over the range.
    let total: i64 = rows
        .iter()
        .map(|r| r["points_earned"].parse::<i64>().unwrap())
        .sum();
    let mut conn = app.db.conn().await;
    #[derive(QueryableByName)]
    struct Sum {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let sum: Sum = diesel::sql_query(
        "SELECT coalesce(sum(points), 0)::bigint AS n FROM ledger_entries WHERE organisation_id = $1",
    )
    .bind::<SqlUuid, _>(w.org.id)
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(total, sum.n);

    // The export is in the audit log, by HR, with its parameters.
    let audits = export_audits(&app, w.org.id).await;
    assert_eq!(audits.len(), 1);
    assert_eq!(audits[0].actor_member_id, Some(w.hr.id));
    assert_eq!(audits[0].actor_api_key_id, None);
    assert_eq!(
        audits[0].details,
        json!({ "export": "engagement", "from": w.m2, "to": to, "granularity": "month",
                "group_by": "member", "team": null, "value_id": null, "format": "csv",
                "pseudonymise": false, "pseudonymised": "no" })
    );
    // Admins read it through the API too.
    let log = app
        .get("/api/v1/audit?action=export", &w.org.admin.token)
        .await;
    assert_eq!(log.ok()["items"].as_array().unwrap().len(), 1);
}

#[rocket::async_test]
async fn every_formula_trigger_is_defused_in_csv_and_left_alone_in_json() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let team = app.team(&org, "Care").await;
    // OWASP's triggers, each at the start of a name. The API refuses control characters in
    // names, but rows written before that rule (or by SQL) still reach the export, so the names
    // are written by SQL here.
    let names = [
        "=1+1",
        "+1+1",
        "-1+1",
        "@SUM(A1)",
        "\tTabbed",
        "\rReturned",
        "Safe = +1",
    ];
    let mut named = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let m = app
            .member(&org, &format!("Member {i}"), Role::Employee, Some(team))
            .await;
        sql(
            &app,
            &format!(
                "UPDATE members SET display_name = $name${name}$name$ WHERE id = '{}'",
                m.id
            ),
        )
        .await;
        named.push((m.id.to_string(), *name));
    }
    sql(
        &app,
        &format!("UPDATE teams SET name = '@Care' WHERE id = '{team}'"),
    )
    .await;
    let m0 = this_month();
    let range = format!("?from={m0}&to={}", m0 + Months::new(1));

    let r = export(&app, &org.admin.token, &range, None).await;
    assert_eq!(r.status, Status::Ok, "{}", r.text);
    let (_, rows) = parse_csv(&r.text);
    for (id, name) in &named {
        let row = row_of(&rows, "member_id", id, &label(m0));
        let want = if *name == "Safe = +1" {
            name.to_string()
        } else {
            format!("'{name}")
        };
        assert_eq!(row["display_name"], want, "{name:?}");
        assert_eq!(row["team_name"], "'@Care");
    }
    let r = export(
        &app,
        &org.admin.token,
        &format!("{range}&group_by=team"),
        None,
    )
    .await;
    let (_, rows) = parse_csv(&r.text);
    assert_eq!(
        row_of(&rows, "team_id", &team.to_string(), &label(m0))["team_name"],
        "'@Care"
    );

    // JSON carries the text as it is: only a spreadsheet reads formulas.
    let r = export(
        &app,
        &org.admin.token,
        &format!("{range}&format=json"),
        None,
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{}", r.text);
    for (id, name) in &named {
        let row = r
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["member_id"] == id.as_str())
            .unwrap_or_else(|| panic!("no row of {name:?}"));
        assert_eq!(row["display_name"], *name);
        assert_eq!(row["team_name"], "@Care");
    }
}

#[rocket::async_test]
async fn weekly_member_rows_in_ndjson_match_column_by_column() {
    let app = TestApp::new().await;
    let w = seeded(&app).await;
    let to = w.m0 + Months::new(1);
    let r = export(
        &app,
        &w.org.admin.token,
        &format!("?from={}&to={to}&granularity=week&format=ndjson", w.m2),
        None,
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{}", r.text);
    assert_eq!(r.content_type.as_deref(), Some("application/x-ndjson"));
    let objects = parse_ndjson(&r.text);
    let mut keys: Vec<&str> = objects[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut header = MEMBER_HEADER.to_vec();
    header.sort_unstable();
    assert_eq!(keys, header);
    assert!(
        r.text.starts_with("{\"period\":"),
        "columns in the documented order"
    );
    // Values are typed.
    assert!(objects[0]["initiatives_submitted"].is_i64());
    assert!(objects[0]["active"].is_boolean());
    assert!(objects[0]["other_kpis"].is_object());
    // Text is never altered in JSON.
    assert!(
        objects
            .iter()
            .any(|o| o["display_name"] == HYPERLINK && o["member_id"] == w.fay.to_string())
    );
    let rows: Vec<Row> = objects.iter().map(as_csv_row).collect();
    let from = monday_of(w.m2);
    let to = monday_of(to - Days::new(1)) + Days::new(7);
    check_member_rows(&app, &w, &rows, "week", from, to, true, None).await;
    // Weekly KPIs land in their own weeks.
    let monday = w.m1 + Days::new(u64::from((7 - w.m1.weekday().num_days_from_monday()) % 7));
    let week = |d: NaiveDate| format!("{}-W{:02}", d.iso_week().year(), d.iso_week().week());
    let ana = w.ana.id.to_string();
    let csat = |d: NaiveDate| {
        row_of(&rows, "member_id", &ana, &week(d))["csat"]
            .parse::<f64>()
            .unwrap()
    };
    assert_eq!(csat(monday), 4.0);
    assert_eq!(csat(monday + Days::new(7)), 4.5);
}

#[rocket::async_test]
async fn team_rows_count_for_the_team_at_the_time_monthly_and_weekly() {
    let app = TestApp::new().await;
    let w = seeded(&app).await;
    let to = w.m0 + Months::new(1);
    let r = export(
        &app,
        &w.hr.token,
        &format!("?from={}&to={to}&group_by=team", w.m2),
        Some("text/csv"),
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{}", r.text);
    let (header, rows) = parse_csv(&r.text);
    assert_eq!(header, TEAM_HEADER);
    check_team_rows(&app, &w, &rows, "month", w.m2, to, false, None).await;
    let (m2, m1, m0) = (label(w.m2), label(w.m1), label(w.m0));
    let care = w.care.to_string();
    let row = row_of(&rows, "team_id", &care, &m2);
    assert_eq!(counts_of(row), [2, 1, 1, 0, 1, 2, 70]);
    assert_eq!(
        row["recognitions_by_value"], "CustomerFirst=1;OwnIt=1",
        "one recognition naming two of Care's members counts once for Care"
    );
    assert_eq!(
        (row["members"].as_str(), row["active_members"].as_str()),
        ("5", "3")
    );
    assert_eq!(row["csat"], "4.3");
    let row = row_of(&rows, "team_id", &care, &m1);
    assert_eq!(counts_of(row), [1, 1, 0, 1, 2, 2, 62]);
    assert_eq!(
        row["recognitions_by_value"],
        "CustomerFirst=0;OldWay=1;OwnIt=0"
    );
    assert_eq!(
        (row["members"].as_str(), row["active_members"].as_str()),
        ("5", "4")
    );
    let row = row_of(&rows, "team_id", &w.store.to_string(), &m1);
    assert_eq!(
        counts_of(row),
        [1, 0, 0, 0, 2, 2, 20],
        "Ben gave from Store after moving"
    );
    assert_eq!(row["recognitions_by_value"], "CustomerFirst=1;OwnIt=1");
    assert_eq!(
        (row["members"].as_str(), row["active_members"].as_str()),
        ("4", "4")
    );
    assert_eq!(row["fcr"], "0.82");
    let row = row_of(&rows, "team_id", &w.field.to_string(), &m1);
    assert_eq!(counts_of(row), [1, 0, 0, 0, 0, 0, 5]);
    // Hal was deactivated: Field still exists, with nobody in it.
    let row = row_of(&rows, "team_id", &w.field.to_string(), &m0);
    assert_eq!(row["members"], "0");

    // Weekly, as one JSON array.
    let r = export(
        &app,
        &w.hr.token,
        &format!("?from={}&to={to}&group_by=team&granularity=week", w.m2),
        Some("application/json"),
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{}", r.text);
    assert_eq!(r.content_type.as_deref(), Some("application/json"));
    let rows: Vec<Row> = r.body.as_array().unwrap().iter().map(as_csv_row).collect();
    let from = monday_of(w.m2);
    let to = monday_of(to - Days::new(1)) + Days::new(7);
    check_team_rows(&app, &w, &rows, "week", from, to, true, None).await;

    // One team only.
    let r = export(
        &app,
        &w.hr.token,
        &format!("{}&group_by=team&team={}", w.range(w.m2), w.store),
        None,
    )
    .await;
    let (_, rows) = parse_csv(&r.text);
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r["team_name"] == "Store"));
}

#[rocket::async_test]
async fn value_id_narrows_recognitions_and_their_points_and_nothing_else() {
    let app = TestApp::new().await;
    let w = seeded(&app).await;
    let to = w.m0 + Months::new(1);
    let (m2, m1, m0) = (label(w.m2), label(w.m1), label(w.m0));
    let whole = parse_csv(&export(&app, &w.hr.token, &w.range(w.m2), None).await.text).1;

    let r = export(
        &app,
        &w.hr.token,
        &format!("{}&value_id={}", w.range(w.m2), w.first),
        None,
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{}", r.text);
    let (header, rows) = parse_csv(&r.text);
    assert_eq!(header, MEMBER_HEADER);
    check_member_rows(&app, &w, &rows, "month", w.m2, to, false, Some(w.first)).await;
    // The same rows as without the filter: it narrows figures, not who is listed.
    let keys = |rows: &[Row]| -> Vec<(String, String)> {
        rows.iter()
            .map(|r| (r["member_id"].clone(), r["period"].clone()))
            .collect()
    };
    assert_eq!(keys(&rows), keys(&whole));
    // Spelled out. Ana, the month before last: her initiatives stay whole; she received one
    // #CustomerFirst recognition (which also carried #OwnIt) worth 15 of her 50 points.
    let ana = w.ana.id.to_string();
    let row = row_of(&rows, "member_id", &ana, &m2);
    assert_eq!(counts_of(row), [1, 1, 1, 0, 0, 1, 15]);
    assert_eq!(row["recognitions_by_value"], "CustomerFirst=1;OwnIt=1");
    // Last month she gave one without a value: not counted, but still activity.
    let row = row_of(&rows, "member_id", &ana, &m1);
    assert_eq!(counts_of(row), [1, 1, 0, 1, 0, 0, 0]);
    assert_eq!(row["active"], "true");
    // This month's #CustomerFirst recognition was reversed: received, and 25 - 25 points.
    let row = row_of(&rows, "member_id", &ana, &m0);
    assert_eq!(row["recognitions_received"], "1");
    assert_eq!(row["points_earned"], "0");
    assert_eq!(row["recognitions_by_value"], "CustomerFirst=1;OwnIt=0");
    // Ben gave the #CustomerFirst one; his own points (a submission) are not the value's.
    let row = row_of(&rows, "member_id", &w.ben.to_string(), &m2);
    assert_eq!(counts_of(row), [1, 0, 0, 0, 1, 0, 0]);
    // Eve received an #OwnIt recognition only.
    let row = row_of(&rows, "member_id", &w.eve.to_string(), &m1);
    assert_eq!(counts_of(row), [1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(row["active"], "true");
    assert_eq!(row["recognitions_by_value"], "CustomerFirst=0;OwnIt=0");

    // Team rows: members and active members stay whole, so suppression is unchanged.
    let r = export(
        &app,
        &w.hr.token,
        &format!(
            "{}&group_by=team&format=json&value_id={}",
            w.range(w.m2),
            w.first
        ),
        None,
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{}", r.text);
    let rows: Vec<Row> = r.body.as_array().unwrap().iter().map(as_csv_row).collect();
    check_team_rows(&app, &w, &rows, "month", w.m2, to, true, Some(w.first)).await;
    let row = row_of(&rows, "team_id", &w.care.to_string(), &m2);
    assert_eq!(counts_of(row), [2, 1, 1, 0, 1, 2, 30]);
    assert_eq!(
        (row["members"].as_str(), row["active_members"].as_str()),
        ("5", "3")
    );
    let json_row = r.body.as_array().unwrap()[0].clone();
    assert!(json_row["recognitions_by_value"]["CustomerFirst"].is_i64());

    // An inactive value narrows too (HR looks back), and is keyed on every row.
    let r = export(
        &app,
        &w.hr.token,
        &format!("{}&value_id={}", w.range(w.m2), w.old_way),
        None,
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{}", r.text);
    let rows = parse_csv(&r.text).1;
    check_member_rows(&app, &w, &rows, "month", w.m2, to, false, Some(w.old_way)).await;
    let row = row_of(&rows, "member_id", &w.cy.to_string(), &m1);
    assert_eq!(
        counts_of(row),
        [0, 0, 0, 0, 0, 1, 0],
        "20 paid, 20 reversed"
    );
    assert_eq!(
        row["recognitions_by_value"],
        "CustomerFirst=0;OldWay=1;OwnIt=0"
    );
    let row = row_of(&rows, "member_id", &ana, &m2);
    assert_eq!(counts_of(row), [1, 1, 1, 0, 0, 0, 0]);
    assert_eq!(
        row["recognitions_by_value"],
        "CustomerFirst=0;OldWay=0;OwnIt=0"
    );

    // The filter is in the audit log.
    let audits = export_audits(&app, w.org.id).await;
    assert_eq!(audits.len(), 4);
    assert_eq!(audits[0].details["value_id"], Value::Null);
    assert_eq!(audits[1].details["value_id"], w.first.to_string());
    assert_eq!(audits[3].details["value_id"], w.old_way.to_string());
}

/// Through the API: a recognition carrying two values counts once under each, a value named by
/// its hashtag counts like a chosen one, private recognitions count (exports show no message),
/// and a team counts a recognition naming several of its members once.
#[rocket::async_test]
async fn recognitions_by_value_counts_every_value_private_recognitions_too() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let care = app.team(&org, "Care").await;
    let store = app.team(&org, "Store").await;
    let hr = app.member(&org, "Hanna HR", Role::Hr, None).await;
    let ana = app.member(&org, "Ana", Role::Employee, Some(care)).await;
    let ben = app.member(&org, "Ben", Role::Employee, Some(care)).await;
    let cy = app.member(&org, "Cy", Role::Employee, Some(care)).await;
    let dan = app.member(&org, "Dan", Role::Employee, Some(store)).await;
    let first = add_value(&app, &org, "Customer first", "CustomerFirst").await;
    let own_it = add_value(&app, &org, "Own it", "OwnIt").await;
    add_value(&app, &org, "Kindness", "Kindness").await;
    let give = |token: &str, body: Value| {
        let app = &app;
        let token = token.to_string();
        async move {
            let r = app.post("/api/v1/recognitions", &token, body).await;
            assert_eq!(r.status, Status::Created, "{}", r.text);
        }
    };
    give(
        &ana.token,
        json!({ "recipients": [ben.id, cy.id], "message": "Saved the day together", "points": 5,
                "value_ids": [first, own_it], "visibility": "private" }),
    )
    .await;
    give(
        &cy.token,
        json!({ "recipients": [ben.id], "message": "Again! #CustomerFirst", "points": 3 }),
    )
    .await;
    give(
        &ben.token,
        json!({ "recipients": [dan.id], "message": "Thanks for the cover", "points": 2 }),
    )
    .await;
    let m0 = this_month();
    let range = format!("?from={m0}&to={}", m0 + Months::new(1));

    let r = export(&app, &hr.token, &format!("{range}&format=json"), None).await;
    assert_eq!(r.status, Status::Ok, "{}", r.text);
    let by_member = |rows: &Value, id: Uuid| -> Value {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|o| o["member_id"] == id.to_string())
            .unwrap()["recognitions_by_value"]
            .clone()
    };
    assert_eq!(
        by_member(&r.body, ben.id),
        json!({ "CustomerFirst": 2, "Kindness": 0, "OwnIt": 1 })
    );
    assert_eq!(
        by_member(&r.body, cy.id),
        json!({ "CustomerFirst": 1, "Kindness": 0, "OwnIt": 1 })
    );
    assert_eq!(
        by_member(&r.body, dan.id),
        json!({ "CustomerFirst": 0, "Kindness": 0, "OwnIt": 0 })
    );
    // Integers, not `2.0`.
    assert!(
        r.text
            .contains("\"recognitions_by_value\":{\"CustomerFirst\":2,\"Kindness\":0,\"OwnIt\":1}")
    );

    // CSV: `hashtag=count;...` by hashtag, the hashtags as stored.
    let r = export(&app, &hr.token, &range, None).await;
    let (_, rows) = parse_csv(&r.text);
    let ben_row = row_of(&rows, "member_id", &ben.id.to_string(), &label(m0));
    assert_eq!(
        ben_row["recognitions_by_value"],
        "CustomerFirst=2;Kindness=0;OwnIt=1"
    );
    assert_eq!(ben_row["recognitions_received"], "2");
    assert!(!r.text.contains("=2.0"));

    // Teams: Care got two recognitions (one naming Ben and Cy, counted once) and three
    // recipients.
    let r = export(&app, &hr.token, &format!("{range}&group_by=team"), None).await;
    let (_, rows) = parse_csv(&r.text);
    let care_row = row_of(&rows, "team_id", &care.to_string(), &label(m0));
    assert_eq!(
        care_row["recognitions_by_value"],
        "CustomerFirst=2;Kindness=0;OwnIt=1"
    );
    assert_eq!(care_row["recognitions_received"], "3");
    let store_row = row_of(&rows, "team_id", &store.to_string(), &label(m0));
    assert_eq!(
        store_row["recognitions_by_value"],
        "CustomerFirst=0;Kindness=0;OwnIt=0"
    );

    // A deactivated value stays where it has a count and leaves the other rows.
    deactivate_value(&app, &org, own_it).await;
    let r = export(&app, &hr.token, &format!("{range}&format=json"), None).await;
    assert_eq!(
        by_member(&r.body, ben.id),
        json!({ "CustomerFirst": 2, "Kindness": 0, "OwnIt": 1 })
    );
    assert_eq!(
        by_member(&r.body, dan.id),
        json!({ "CustomerFirst": 0, "Kindness": 0 })
    );
    // Narrowed to it: the private recognition, with the value that came with it.
    let r = export(
        &app,
        &hr.token,
        &format!("{range}&format=json&value_id={own_it}"),
        None,
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{}", r.text);
    assert_eq!(
        by_member(&r.body, ben.id),
        json!({ "CustomerFirst": 1, "Kindness": 0, "OwnIt": 1 })
    );
    assert_eq!(
        by_member(&r.body, dan.id),
        json!({ "CustomerFirst": 0, "Kindness": 0, "OwnIt": 0 })
    );

    // Pseudonymised: the same counts under pseudonyms (min group size 3: Care is shown).
    sql(
        &app,
        &format!(
            "UPDATE organisations SET min_group_size = 3 WHERE id = '{}'",
            org.id
        ),
    )
    .await;
    let r = export(
        &app,
        &hr.token,
        &format!("{range}&format=ndjson&pseudonymise=true"),
        None,
    )
    .await;
    let mut counts: Vec<String> = parse_ndjson(&r.text)
        .iter()
        .map(|o| o["recognitions_by_value"].to_string())
        .collect();
    counts.sort();
    let named = export(&app, &hr.token, &format!("{range}&format=ndjson"), None).await;
    let mut named_counts: Vec<String> = parse_ndjson(&named.text)
        .iter()
        .map(|o| o["recognitions_by_value"].to_string())
        .collect();
    named_counts.sort();
    assert_eq!(counts, named_counts);
    let r = export(
        &app,
        &hr.token,
        &format!("{range}&group_by=team&pseudonymise=true"),
        None,
    )
    .await;
    let (_, rows) = parse_csv(&r.text);
    assert_eq!(rows.len(), 1, "Store had fewer than three active members");
    assert_eq!(rows[0]["team_name"], "Care");
    assert_eq!(rows[0]["active_members"], "3");
    assert_eq!(
        rows[0]["recognitions_by_value"],
        "CustomerFirst=2;Kindness=0;OwnIt=1"
    );
}

#[rocket::async_test]
async fn pseudonyms_are_stable_within_an_export_and_unlinkable_across_exports() {
    let app = TestApp::new().await;
    let w = seeded(&app).await;
    let query = format!("{}&pseudonymise=true", w.range(w.m2));
    sql(
        &app,
        &format!(
            "UPDATE organisations SET min_group_size = 4 WHERE id = '{}'",
            w.org.id
        ),
    )
    .await;
    let first = export(&app, &w.hr.token, &query, None).await;
    assert_eq!(first.status, Status::Ok, "{}", first.text);
    assert!(
        first
            .header("content-disposition")
            .unwrap()
            .contains("-pseudonymised-")
    );
    let second = export(&app, &w.hr.token, &query, None).await;
    let named = export(&app, &w.hr.token, &w.range(w.m2), None).await;
    let (header, rows1) = parse_csv(&first.text);
    let (_, rows2) = parse_csv(&second.text);
    let (_, named_rows) = parse_csv(&named.text);
    assert_eq!(
        header,
        [
            "period",
            "period_start",
            "period_end",
            "pseudonym",
            "team_id",
            "team_name",
            "initiatives_submitted",
            "initiatives_approved",
            "initiatives_implemented",
            "initiatives_measured",
            "recognitions_given",
            "recognitions_received",
            "points_earned",
            "active",
            "csat",
            "nps",
            "ces",
            "fcr",
            "other_kpis",
            "recognitions_by_value",
        ]
    );
    // No member id, name or email anywhere.
    for m in members_of(&app, w.org.id).await {
        for text in [&first.text, &second.text] {
            assert!(
                !text.contains(&m.id.to_string()),
                "id of {}",
                m.display_name
            );
            assert!(!text.contains(&m.email), "email of {}", m.display_name);
            assert!(!text.contains(&m.display_name), "name {}", m.display_name);
        }
    }
    // Stable within an export: each pseudonym has one row per period, like each member.
    let by_pseudonym = |rows: &[Row]| {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for r in rows {
            assert!(r["pseudonym"].starts_with("P-") && r["pseudonym"].len() == 18);
            map.entry(r["pseudonym"].clone())
                .or_default()
                .push(r["period"].clone());
        }
        map
    };
    let p1 = by_pseudonym(&rows1);
    let p2 = by_pseudonym(&rows2);
    let members = members_of(&app, w.org.id).await.len();
    assert_eq!(p1.len(), members);
    assert_eq!(rows1.len(), named_rows.len());
    for periods in p1.values() {
        let distinct: HashSet<_> = periods.iter().collect();
        assert_eq!(distinct.len(), periods.len());
    }
    // Unlinkable across exports: no pseudonym comes back.
    assert!(p1.keys().all(|k| !p2.contains_key(k)));
    // The numbers are the same as in the named export.
    let numbers = |rows: &[Row]| {
        let mut v: Vec<(String, Vec<i64>, String, String)> = rows
            .iter()
            .map(|r| {
                (
                    r["period"].clone(),
                    counts_of(r),
                    r["active"].clone(),
                    r["recognitions_by_value"].clone(),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(numbers(&rows1), numbers(&named_rows));
    // Field (Hal alone, and deactivated) is below the minimum group size of 4: its name and
    // KPIs are suppressed; so are the teams of HR and the admin, who have none (a group of
    // their own). Care and Store (4 each) are not.
    let suppressed: Vec<&Row> = rows1
        .iter()
        .filter(|r| r["team_name"] == "suppressed")
        .collect();
    assert_eq!(
        suppressed.len(),
        2 + 2 * 3,
        "Hal has rows in two months, HR and the admin in three"
    );
    assert!(rows1.iter().all(|r| !r["team_name"].is_empty()));
    assert!(
        suppressed
            .iter()
            .all(|r| r["team_id"].is_empty() && r["csat"].is_empty())
    );
    assert!(!first.text.contains(&w.field.to_string()));
    assert!(!first.text.contains(",Field,"));
    assert!(
        rows1
            .iter()
            .any(|r| r["team_name"] == "Care" && r["csat"] == "4.3")
    );
    // Each export is audited as pseudonymised.
    let audits = export_audits(&app, w.org.id).await;
    assert_eq!(audits.len(), 3);
    assert_eq!(audits[0].details["pseudonymise"], true);
    assert_eq!(audits[2].details["pseudonymise"], false);
}

#[rocket::async_test]
async fn small_groups_are_suppressed_in_pseudonymised_exports() {
    let app = TestApp::new().await;
    let w = seeded(&app).await;
    let (m2, m1) = (label(w.m2), label(w.m1));
    // Without pseudonymisation nothing is suppressed.
    let r = export(
        &app,
        &w.hr.token,
        &format!("{}&group_by=team", w.range(w.m2)),
        None,
    )
    .await;
    let named = parse_csv(&r.text).1;
    assert_eq!(named.len(), 9);
    // Pseudonymised, a team row is shown when as many members as the minimum group size were
    // active in it (its figures sum theirs), whatever its headcount.
    let count = |r: &Row, c: &str| r[c].parse::<i64>().unwrap();
    let expected = |min: i64| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = named
            .iter()
            .filter(|r| count(r, "active_members") >= min)
            .map(|r| (r["team_name"].clone(), r["period"].clone()))
            .collect();
        v.sort();
        v
    };
    // Default minimum group size 5. Care had 5 members in the month before last and last month
    // (Ben left mid-month), 4 this month; Store 3, 4, 4; Field 1, 1, 0. Active in them: Care
    // 3, 4, 2; Store 0, 4, 0; Field 0, 1, 0. So no team period has five active members.
    assert!(
        named
            .iter()
            .any(|r| count(r, "members") >= 5 && count(r, "active_members") < 5),
        "a team with headcount enough but too few active members"
    );
    let r = export(
        &app,
        &w.hr.token,
        &format!("{}&group_by=team&pseudonymise=true", w.range(w.m2)),
        None,
    )
    .await;
    let (_, rows) = parse_csv(&r.text);
    let mut shown: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r["team_name"].clone(), r["period"].clone()))
        .collect();
    shown.sort();
    assert_eq!(shown, expected(5));
    assert!(shown.is_empty(), "{shown:?}");
    assert!(rows.iter().all(|r| count(r, "active_members") >= 5));
    // Member rows: every current team is below 5, so no team is named.
    let r = export(
        &app,
        &w.hr.token,
        &format!("{}&pseudonymise=true&format=ndjson", w.range(w.m2)),
        None,
    )
    .await;
    let objects = parse_ndjson(&r.text);
    for o in &objects {
        // HR and the admin have no team: suppressed too.
        assert_eq!(o["team_name"], "suppressed");
        assert!(o["team_id"].is_null() && o["csat"].is_null() && o["other_kpis"] == json!({}));
    }
    assert!(objects.iter().any(|o| o["team_name"] == "suppressed"));
    // A smaller minimum shows the team periods with at least three active members.
    sql(
        &app,
        &format!(
            "UPDATE organisations SET min_group_size = 3 WHERE id = '{}'",
            w.org.id
        ),
    )
    .await;
    let r = export(
        &app,
        &w.hr.token,
        &format!("{}&group_by=team&pseudonymise=true", w.range(w.m2)),
        None,
    )
    .await;
    let (_, rows) = parse_csv(&r.text);
    let mut shown: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r["team_name"].clone(), r["period"].clone()))
        .collect();
    shown.sort();
    assert_eq!(shown, expected(3));
    assert_eq!(
        shown,
        [
            ("Care".to_string(), m2.clone()),
            ("Care".to_string(), m1.clone()),
            ("Store".to_string(), m1.clone()),
        ]
    );
    // The rows shown carry their counts by value as the named export does (hashtags are the
    // organisation's words, not a person's); suppressed rows take theirs with them.
    for r in &rows {
        let named_row = row_of(&named, "team_id", &r["team_id"], &r["period"]);
        assert_eq!(
            r["recognitions_by_value"],
            named_row["recognitions_by_value"]
        );
    }
    assert_eq!(
        row_of(&rows, "team_name", "Care", &m2)["recognitions_by_value"],
        "CustomerFirst=1;OwnIt=1"
    );
    // Filtered to a small team, which the filter itself names: no member rows at all.
    let r = export(
        &app,
        &w.hr.token,
        &format!("{}&pseudonymise=true&team={}", w.range(w.m2), w.field),
        None,
    )
    .await;
    assert_eq!(r.status, Status::Ok);
    let (header, rows) = parse_csv(&r.text);
    assert_eq!(header[3], "pseudonym");
    assert!(rows.is_empty());
    // Filtered to a team big enough: its current members, pseudonymised.
    let r = export(
        &app,
        &w.hr.token,
        &format!("{}&pseudonymise=true&team={}", w.range(w.m2), w.care),
        None,
    )
    .await;
    let (_, rows) = parse_csv(&r.text);
    assert_eq!(rows.len(), 4 * 3);
    assert!(rows.iter().all(|r| r["team_name"] == "Care"));
}

#[rocket::async_test]
async fn erased_members_appear_only_as_erased_or_under_a_pseudonym() {
    let app = TestApp::new().await;
    let w = seeded(&app).await;
    sql(
        &app,
        &format!(
            "UPDATE members SET erased_at = now(), deactivated_at = now() WHERE id = '{}'",
            w.gus
        ),
    )
    .await;
    let r = export(&app, &w.hr.token, &w.range(w.m1), None).await;
    let (_, rows) = parse_csv(&r.text);
    assert!(!r.text.contains(&w.gus.to_string()));
    assert!(!r.text.contains("gus@acme.example"));
    let erased: Vec<&Row> = rows
        .iter()
        .filter(|r| r["display_name"] == "erased member")
        .collect();
    assert_eq!(erased.len(), 2, "last month and this month");
    assert!(
        erased
            .iter()
            .all(|r| r["member_id"].is_empty() && r["email"].is_empty())
    );
    // Gus's received recognition is still counted: aggregates stay whole.
    let last = erased.iter().find(|r| r["period"] == label(w.m1)).unwrap();
    assert_eq!(counts_of(last), [0, 0, 0, 0, 0, 1, 5]);
    let r = export(
        &app,
        &w.hr.token,
        &format!("{}&pseudonymise=true", w.range(w.m1)),
        None,
    )
    .await;
    assert!(!r.text.contains("erased member"));
    assert_eq!(parse_csv(&r.text).1.len(), rows.len());
}

#[rocket::async_test]
async fn api_keys_with_the_exports_scope_export_and_are_audited_until_revoked() {
    let app = TestApp::new().await;
    let w = world(&app).await;
    let created = app
        .post(
            "/api/v1/api-keys",
            &w.org.admin.token,
            json!({ "name": "hris", "scopes": ["exports"] }),
        )
        .await;
    let key = created.ok()["key"].as_str().unwrap().to_string();
    let key_id = id_of(&created.body);
    let r = export(&app, &key, "?format=ndjson", None).await;
    assert_eq!(r.status, Status::Ok, "{}", r.text);
    assert_eq!(
        parse_ndjson(&r.text).len(),
        members_of(&app, w.org.id).await.len() * 12
    );
    let audits = export_audits(&app, w.org.id).await;
    assert_eq!(audits.len(), 1);
    assert_eq!(audits[0].actor_api_key_id, Some(key_id));
    assert_eq!(audits[0].actor_member_id, None);
    // A key for KPIs only may not export.
    let kpis = app
        .post(
            "/api/v1/api-keys",
            &w.org.admin.token,
            json!({ "name": "bi", "scopes": ["kpis"] }),
        )
        .await;
    let kpis_key = kpis.ok()["key"].as_str().unwrap().to_string();
    export(&app, &kpis_key, "", None).await.problem(403);
    // Revoked: refused at once.
    app.post_empty(
        &format!("/api/v1/api-keys/{key_id}/revoke"),
        &w.org.admin.token,
    )
    .await
    .ok();
    export(&app, &key, "", None).await.problem(401);
    export(&app, "flk_not-a-key", "", None).await.problem(401);
    // Refusals are not audited as exports.
    assert_eq!(export_audits(&app, w.org.id).await.len(), 1);
}

#[rocket::async_test]
async fn only_hr_and_admins_export() {
    let app = TestApp::new().await;
    let w = world(&app).await;
    export(&app, &w.ana.token, "", None).await.problem(403);
    export(&app, &w.lars.token, "", None).await.problem(403);
    let r = read(app.client.get(EXPORT).dispatch().await).await;
    r.problem(401);
    let r = read(
        app.client
            .get(EXPORT)
            .header(Header::new("Authorization", "Bearer nonsense"))
            .dispatch()
            .await,
    )
    .await;
    r.problem(401);
    assert_eq!(export(&app, &w.hr.token, "", None).await.status, Status::Ok);
    assert_eq!(
        export(&app, &w.org.admin.token, "", None).await.status,
        Status::Ok
    );
    assert_eq!(export_audits(&app, w.org.id).await.len(), 2);
}

#[rocket::async_test]
async fn a_team_of_another_organisation_is_not_found() {
    let app = TestApp::new().await;
    let w = world(&app).await;
    let other = app.seed_org("other").await;
    let theirs = app.team(&other, "Theirs").await;
    export(&app, &w.hr.token, &format!("?team={theirs}"), None)
        .await
        .problem(404);
    export(
        &app,
        &w.hr.token,
        &format!("?team={}", Uuid::new_v4()),
        None,
    )
    .await
    .problem(404);
    // Their HR sees only their own organisation.
    let their_hr = app.member(&other, "Olga", Role::Hr, None).await;
    let r = export(&app, &their_hr.token, "?format=ndjson", None).await;
    let rows = parse_ndjson(&r.text);
    let ours: HashSet<String> = members_of(&app, w.org.id)
        .await
        .iter()
        .map(|m| m.id.to_string())
        .collect();
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|r| !ours.contains(r["member_id"].as_str().unwrap()))
    );
    assert!(export_audits(&app, w.org.id).await.is_empty());
}

#[rocket::async_test]
async fn a_value_of_another_organisation_is_not_found() {
    let app = TestApp::new().await;
    let w = world(&app).await;
    let other = app.seed_org("other").await;
    let theirs = add_value(&app, &other, "Theirs", "Theirs").await;
    for query in [
        format!("?value_id={theirs}"),
        format!("?value_id={}", Uuid::new_v4()),
        format!("?value_id={theirs}&group_by=team&format=json"),
    ] {
        export(&app, &w.hr.token, &query, None).await.problem(404);
    }
    // Refusals are not audited as exports; an inactive value of our own is allowed.
    assert!(export_audits(&app, w.org.id).await.is_empty());
    let r = export(&app, &w.hr.token, &format!("?value_id={}", w.old_way), None).await;
    assert_eq!(r.status, Status::Ok, "{}", r.text);
}

#[rocket::async_test]
async fn bad_parameters_are_refused_by_name() {
    let app = TestApp::new().await;
    let w = world(&app).await;
    let hr = &w.hr.token;
    for (query, field) in [
        ("?granularity=day", "granularity"),
        ("?group_by=department", "group_by"),
        ("?format=xlsx", "format"),
        ("?pseudonymise=yes", "pseudonymise"),
        ("?bom=maybe", "bom"),
        ("?bom=false&format=json", "bom"),
        ("?from=2026-13-01", "from"),
        ("?from=1.11.2026", "from"),
        ("?to=tomorrow", "to"),
        ("?from=2026-10-01&to=2026-10-01", "to"),
        ("?from=2026-10-02&to=2026-10-01", "to"),
        ("?from=2020-01-01&to=2026-01-02", "to"),
        ("?from=2999-01-01", "from"),
        ("?team=not-a-uuid", "team"),
        ("?value_id=CustomerFirst", "value_id"),
        ("?value_id=%23CustomerFirst", "value_id"),
        ("?value_id=", "value_id"),
        ("?granularty=week", "granularty"),
        ("?format=csv&format=json", "format"),
    ] {
        export(&app, hr, query, None).await.invalid_field(field);
    }
    // Every mistake at once.
    let r = export(&app, hr, "?granularity=day&group_by=x&format=y", None).await;
    for field in ["granularity", "group_by", "format"] {
        r.invalid_field(field);
    }
    // A future `from` with the default `to` (today) names `to`.
    let next_year = this_month() + Months::new(12);
    export(&app, hr, &format!("?from={next_year}"), None)
        .await
        .invalid_field("to");
    // Exactly five years is allowed.
    let r = export(
        &app,
        hr,
        "?from=2021-01-01&to=2026-01-01&group_by=team",
        None,
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{}", r.text);
    assert!(export_audits(&app, w.org.id).await.len() == 1);
}

#[rocket::async_test]
async fn the_format_comes_from_the_parameter_or_the_accept_header() {
    let app = TestApp::new().await;
    let w = world(&app).await;
    let hr = &w.hr.token;
    let members = members_of(&app, w.org.id).await.len();
    let q = w.range(w.m0);
    let cases: [(&str, Option<&str>, &str); 8] = [
        ("", None, "text/csv"),
        ("", Some("*/*"), "text/csv"),
        ("", Some("application/json"), "application/json"),
        ("", Some("application/x-ndjson"), "application/x-ndjson"),
        (
            "",
            Some("text/html, application/json;q=0.5"),
            "application/json",
        ),
        (
            "",
            Some("application/json;q=0.4, text/csv;q=0.9"),
            "text/csv",
        ),
        (
            "&format=ndjson",
            Some("application/json"),
            "application/x-ndjson",
        ),
        ("&format=json", Some("text/csv"), "application/json"),
    ];
    for (extra, accept, want) in cases {
        let r = export(&app, hr, &format!("{q}{extra}"), accept).await;
        assert_eq!(r.status, Status::Ok, "{}", r.text);
        assert_eq!(r.content_type.as_deref(), Some(want), "{extra} {accept:?}");
        let ext = match want {
            "text/csv" => "csv",
            "application/json" => "json",
            _ => "ndjson",
        };
        assert!(
            r.header("content-disposition")
                .unwrap()
                .ends_with(&format!(".{ext}\"")),
        );
        let rows = match want {
            "text/csv" => parse_csv(&r.text).1.len(),
            "application/json" => r.body.as_array().unwrap().len(),
            _ => parse_ndjson(&r.text).len(),
        };
        assert_eq!(rows, members, "{extra} {accept:?}");
    }
    // Without a byte order mark, for plain RFC 4180 readers.
    let r = export(&app, hr, &format!("{q}&bom=false"), None).await;
    assert!(r.text.starts_with("period,"));
    // An empty export is still a header row, or an empty array.
    let r = export(
        &app,
        hr,
        &format!(
            "?from={}&to={}&team={}&pseudonymise=true",
            w.m0,
            w.m0 + Months::new(1),
            w.field
        ),
        Some("application/json"),
    )
    .await;
    assert_eq!(r.text, "[]\n");
}

#[rocket::async_test]
async fn a_large_export_streams_every_row() {
    let app = TestApp::new().await;
    let w = world(&app).await;
    sql(
        &app,
        &format!(
            "INSERT INTO members (organisation_id, email, display_name, role, team_id, created_at) \
             SELECT '{}', 'bulk' || g || '@acme.example', 'Bulk ' || g, 'employee', '{}', now() - interval '400 days' \
             FROM generate_series(1, 3000) g",
            w.org.id, w.care
        ),
    )
    .await;
    // Some activity for a few of them, to see it arrive.
    sql(
        &app,
        &format!(
            "INSERT INTO ledger_entries (organisation_id, member_id, team_id, points, reason, created_at) \
             SELECT organisation_id, id, team_id, 3, 'badge', now() FROM members \
             WHERE organisation_id = '{}' AND display_name LIKE 'Bulk 1%'",
            w.org.id
        ),
    )
    .await;
    let members = members_of(&app, w.org.id).await.len();
    assert!(members > 3000);
    let q = format!("?from={}&to={}", w.m0, w.m0 + Months::new(1));
    let r = export(&app, &w.hr.token, &q, None).await;
    assert_eq!(r.status, Status::Ok);
    let (_, rows) = parse_csv(&r.text);
    assert_eq!(rows.len(), members);
    let ids: HashSet<&String> = rows.iter().map(|r| &r["member_id"]).collect();
    assert_eq!(ids.len(), members);
    // Ordered by name (case-insensitively), across batches.
    let names: Vec<String> = rows
        .iter()
        .map(|r| r["display_name"].to_lowercase())
        .collect();
    let bulk: Vec<&String> = names.iter().filter(|n| n.starts_with("bulk ")).collect();
    assert_eq!(bulk.len(), 3000);
    let points: i64 = rows
        .iter()
        .map(|r| r["points_earned"].parse::<i64>().unwrap())
        .sum();
    assert_eq!(points, 3 * 1111, "Bulk 1, 10-19, 100-199, 1000-1999");
    // Pseudonymised, from a random starting point: still every member exactly once.
    let r = export(
        &app,
        &w.hr.token,
        &format!("{q}&pseudonymise=true&format=ndjson&granularity=week"),
        None,
    )
    .await;
    let objects = parse_ndjson(&r.text);
    let weeks: HashSet<&str> = objects
        .iter()
        .map(|o| o["period"].as_str().unwrap())
        .collect();
    assert_eq!(objects.len(), members * weeks.len());
    let pseudonyms: HashSet<&str> = objects
        .iter()
        .map(|o| o["pseudonym"].as_str().unwrap())
        .collect();
    assert_eq!(pseudonyms.len(), members);
    let points: i64 = objects
        .iter()
        .map(|o| o["points_earned"].as_i64().unwrap())
        .sum();
    assert_eq!(points, 3 * 1111);
}

#[rocket::async_test]
async fn an_export_that_fails_midway_ends_with_a_marker_instead_of_looking_complete() {
    let app = TestApp::new().await;
    let w = world(&app).await;
    for format in ["csv", "ndjson", "json"] {
        let res = app
            .client
            .get(format!("{EXPORT}?format={format}"))
            .header(Header::new(
                "Authorization",
                format!("Bearer {}", w.hr.token),
            ))
            .dispatch()
            .await;
        // The status and headers are out; the body has not been read yet. Cut the database
        // connection under it: the export's, the one in a transaction (idle pooled
        // connections are left alone, or the next format's request would meet one of them
        // dead and answer 503, as a request on a lost connection does).
        assert_eq!(res.status(), Status::Ok);
        sql(
            &app,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
             AND state <> 'idle'",
        )
        .await;
        let text = res.into_string().await.unwrap_or_default();
        match format {
            "csv" => {
                let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
                assert!(
                    reader.records().any(|r| r.is_err()),
                    "a strict parser refuses it: {text}"
                );
                assert!(text.ends_with("export failed before it was complete; retry it\r\n"));
            }
            "ndjson" => {
                let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
                assert_eq!(
                    last["error"],
                    "export failed before it was complete; retry it"
                );
            }
            _ => assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}"),
        }
    }
}
