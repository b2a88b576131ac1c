//! Engagement analytics: a seeded organisation with known numbers (members through the API,
//! activity as backdated rows, KPIs through the API), checked figure by figure: participation,
//! recognition reach, the funnel, points by dimension and channel, KPI change and the
//! correlation against a hand-computed Pearson r; the range in the organisation's time zone;
//! refusals, bad parameters, and another organisation's data never included.

use diesel::QueryableByName;
use diesel::sql_types::{Integer, Nullable, Text};
use diesel_async::RunQueryDsl;
use frontline::auth::Role;
use rocket::http::Status;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::*;

type SqlUuid = diesel::sql_types::Uuid;

const Q1: &str = "/api/v1/analytics/engagement?from=2026-01-01&to=2026-04-01";

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// An initiative as the domain would have stored it, submitted at `at`.
#[allow(clippy::too_many_arguments)]
async fn initiative(
    app: &TestApp,
    org: Uuid,
    author: Uuid,
    team: Option<Uuid>,
    status: &str,
    channel: &str,
    dimension: &str,
    at: &str,
) -> Uuid {
    let mut conn = app.db.conn().await;
    let row: IdRow = diesel::sql_query(
        "INSERT INTO initiatives (organisation_id, author_id, team_id, title, description, \
             dimension, channel, journey_stage, customer_value, organisation_value, ease, status, \
             outcome_kpi, outcome_result, outcome_measured_at, created_at) \
         VALUES ($1, $2, $3, 'A win', '', $4, $5, 'during', 3, 3, 3, $6::text, \
             CASE WHEN $6::text = 'measured' THEN 'csat' END, \
             CASE WHEN $6::text = 'measured' THEN 1.0::float8 END, \
             CASE WHEN $6::text = 'measured' THEN $7::timestamptz END, $7::timestamptz) \
         RETURNING id",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(author)
    .bind::<Nullable<SqlUuid>, _>(team)
    .bind::<Text, _>(dimension)
    .bind::<Text, _>(channel)
    .bind::<Text, _>(status)
    .bind::<Text, _>(at)
    .get_result(&mut conn)
    .await
    .unwrap();
    row.id
}

/// A ledger entry, written at `at`.
struct Entry<'a> {
    member: Uuid,
    team: Option<Uuid>,
    points: i32,
    reason: &'a str,
    source: Option<(&'a str, Uuid)>,
    dimension: Option<&'a str>,
    at: &'a str,
    reverses: Option<Uuid>,
    by: Option<Uuid>,
}

fn credit<'a>(
    member: Uuid,
    team: Option<Uuid>,
    points: i32,
    reason: &'a str,
    at: &'a str,
) -> Entry<'a> {
    Entry {
        member,
        team,
        points,
        reason,
        source: None,
        dimension: None,
        at,
        reverses: None,
        by: None,
    }
}

impl<'a> Entry<'a> {
    fn from(mut self, kind: &'a str, id: Uuid) -> Self {
        self.source = Some((kind, id));
        self
    }
    fn dim(mut self, d: &'a str) -> Self {
        self.dimension = Some(d);
        self
    }
}

async fn write(app: &TestApp, org: Uuid, e: Entry<'_>) -> Uuid {
    let mut conn = app.db.conn().await;
    let note = e.by.map(|_| "by hand");
    let row: IdRow = diesel::sql_query(
        "INSERT INTO ledger_entries (organisation_id, member_id, team_id, points, reason, \
             source_type, source_id, dimension, note, created_by, reverses, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::timestamptz) RETURNING id",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(e.member)
    .bind::<Nullable<SqlUuid>, _>(e.team)
    .bind::<Integer, _>(e.points)
    .bind::<Text, _>(e.reason)
    .bind::<Nullable<Text>, _>(e.source.map(|s| s.0))
    .bind::<Nullable<SqlUuid>, _>(e.source.map(|s| s.1))
    .bind::<Nullable<Text>, _>(e.dimension)
    .bind::<Nullable<Text>, _>(note)
    .bind::<Nullable<SqlUuid>, _>(e.by)
    .bind::<Nullable<SqlUuid>, _>(e.reverses)
    .bind::<Text, _>(e.at)
    .get_result(&mut conn)
    .await
    .unwrap();
    row.id
}

/// A recognition from `giver` to `recipient` (in `team` at the time), with the recipient's
/// ledger entry.
#[allow(clippy::too_many_arguments)]
async fn recognition(
    app: &TestApp,
    org: Uuid,
    giver: Uuid,
    recipient: Uuid,
    team: Option<Uuid>,
    points: i32,
    dimension: Option<&str>,
    at: &str,
) {
    let mut conn = app.db.conn().await;
    let row: IdRow = diesel::sql_query(
        "INSERT INTO recognitions (organisation_id, giver_id, kind, message, points_each, \
             dimension, created_at) \
         VALUES ($1, $2, 'peer', 'thank you', $3, $4, $5::timestamptz) RETURNING id",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(giver)
    .bind::<Integer, _>(points)
    .bind::<Nullable<Text>, _>(dimension)
    .bind::<Text, _>(at)
    .get_result(&mut conn)
    .await
    .unwrap();
    diesel::sql_query(
        "INSERT INTO recognition_recipients (organisation_id, recognition_id, member_id, team_id, \
             created_at) VALUES ($1, $2, $3, $4, $5::timestamptz)",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(row.id)
    .bind::<SqlUuid, _>(recipient)
    .bind::<Nullable<SqlUuid>, _>(team)
    .bind::<Text, _>(at)
    .execute(&mut conn)
    .await
    .unwrap();
    let mut e =
        credit(recipient, team, points, "recognition_received", at).from("recognition", row.id);
    e.dimension = dimension;
    write(app, org, e).await;
}

async fn kpi(
    app: &TestApp,
    token: &str,
    team: Uuid,
    kpi: &str,
    start: &str,
    end: &str,
    value: f64,
) -> Value {
    let r = app
        .post(
            &format!("/api/v1/teams/{team}/kpis"),
            token,
            json!({ "kpi": kpi, "period_start": start, "period_end": end, "value": value, "sample_size": 100 }),
        )
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    r.body
}

struct Seeded {
    org: Org,
    hanna: Actor,
    lead: Actor,
    employee: Actor,
    support: Uuid,
    sales: Uuid,
    billing: Uuid,
    field: Uuid,
    old: Uuid,
}

/// The organisation of the tests, with Q1 2026 (Europe/Oslo) activity:
///
/// - Support: Sam (lead), Sib, Sue, Sid, and Mo (moved in from Sales after his Q1 activity);
///   Sax (deactivated) was in Support. 5 active members; Sam, Sib, Sue and Sid took part.
/// - Sales: Lia (lead), Lou, Lyn. Lou was recognised by Hanna (HR, no team).
/// - Billing: Bea, Bob, Bry, Bud, Ben. Ben got only an admin's adjustment.
/// - Field: Fay, Fox. Fay's badge was earned while in Old (archived since).
async fn seed(app: &TestApp) -> Seeded {
    let org = app.seed_org("acme").await;
    // The smallest minimum group size, so that only Field (two members) and the archived team
    // (none) are suppressed.
    app.patch(
        "/api/v1/organisation",
        &org.admin.token,
        json!({ "min_group_size": 3 }),
    )
    .await
    .ok();
    let o = org.id;
    let support = app.team(&org, "Support").await;
    let sales = app.team(&org, "Sales").await;
    let billing = app.team(&org, "Billing").await;
    let field = app.team(&org, "Field").await;
    let old = app.team(&org, "Old").await;
    let m = |name: &'static str, role: Role, team: Uuid| {
        let (app, org) = (&app, &org);
        async move { app.member(org, name, role, Some(team)).await }
    };
    let sam = m("Sam", Role::TeamLead, support).await;
    let sib = m("Sib", Role::Employee, support).await;
    let sue = m("Sue", Role::Employee, support).await;
    let sid = m("Sid", Role::Employee, support).await;
    let sax = m("Sax", Role::Employee, support).await;
    let lia = m("Lia", Role::TeamLead, sales).await;
    let lou = m("Lou", Role::Employee, sales).await;
    let lyn = m("Lyn", Role::Employee, sales).await;
    let mo = m("Mo", Role::Employee, sales).await;
    let bea = m("Bea", Role::Employee, billing).await;
    let bob = m("Bob", Role::Employee, billing).await;
    let bry = m("Bry", Role::Employee, billing).await;
    let bud = m("Bud", Role::Employee, billing).await;
    let ben = m("Ben", Role::Employee, billing).await;
    let fay = m("Fay", Role::Employee, field).await;
    let fox = m("Fox", Role::Employee, field).await;
    let hanna = app.member(&org, "Hanna HR", Role::Hr, None).await;
    let (s, l, b, f) = (Some(support), Some(sales), Some(billing), Some(field));

    // Support.
    let i1 = initiative(
        app,
        o,
        sib.id,
        s,
        "measured",
        "phone",
        "empathy",
        "2026-01-10T09:00:00Z",
    )
    .await;
    for (points, reason, at) in [
        (5, "initiative_submitted", "2026-01-10T09:00:00Z"),
        (10, "initiative_approved", "2026-01-12T09:00:00Z"),
        (20, "initiative_implemented", "2026-02-01T09:00:00Z"),
        (30, "initiative_measured", "2026-03-01T09:00:00Z"),
    ] {
        write(
            app,
            o,
            credit(sib.id, s, points, reason, at)
                .from("initiative", i1)
                .dim("empathy"),
        )
        .await;
    }
    let i2 = initiative(
        app,
        o,
        sue.id,
        s,
        "declined",
        "chat",
        "trust",
        "2026-02-05T09:00:00Z",
    )
    .await;
    write(
        app,
        o,
        credit(sue.id, s, 5, "initiative_submitted", "2026-02-05T09:00:00Z")
            .from("initiative", i2)
            .dim("trust"),
    )
    .await;
    let i3 = initiative(
        app,
        o,
        sax.id,
        s,
        "submitted",
        "email",
        "expectations",
        "2026-01-20T09:00:00Z",
    )
    .await;
    write(
        app,
        o,
        credit(sax.id, s, 5, "initiative_submitted", "2026-01-20T09:00:00Z")
            .from("initiative", i3)
            .dim("expectations"),
    )
    .await;
    recognition(
        app,
        o,
        sam.id,
        sid.id,
        s,
        20,
        Some("empathy"),
        "2026-02-10T09:00:00Z",
    )
    .await;
    // 00:30 on 1 January in Oslo: inside. 23:30 on 31 December in Oslo: outside.
    write(
        app,
        o,
        credit(sam.id, s, 7, "badge", "2025-12-31T23:30:00Z"),
    )
    .await;
    write(
        app,
        o,
        credit(sid.id, s, 50, "badge", "2025-12-31T22:30:00Z"),
    )
    .await;

    // Sales: Mo's win while he was there, and a recognition from HR.
    let i4 = initiative(
        app,
        o,
        mo.id,
        l,
        "approved",
        "web",
        "time_and_effort",
        "2026-01-15T09:00:00Z",
    )
    .await;
    write(
        app,
        o,
        credit(mo.id, l, 5, "initiative_submitted", "2026-01-15T09:00:00Z")
            .from("initiative", i4)
            .dim("time_and_effort"),
    )
    .await;
    let approved = write(
        app,
        o,
        credit(mo.id, l, 10, "initiative_approved", "2026-01-16T09:00:00Z")
            .from("initiative", i4)
            .dim("time_and_effort"),
    )
    .await;
    recognition(
        app,
        o,
        hanna.id,
        lou.id,
        l,
        10,
        None,
        "2026-03-15T09:00:00Z",
    )
    .await;
    // 00:30 on 1 April in Oslo (summer time): outside.
    initiative(
        app,
        o,
        lyn.id,
        l,
        "submitted",
        "phone",
        "trust",
        "2026-03-31T22:30:00Z",
    )
    .await;

    // Billing.
    let i5 = initiative(
        app,
        o,
        bea.id,
        b,
        "approved",
        "app",
        "personalisation",
        "2026-01-05T09:00:00Z",
    )
    .await;
    for (points, reason) in [(5, "initiative_submitted"), (10, "initiative_approved")] {
        write(
            app,
            o,
            credit(bea.id, b, points, reason, "2026-01-06T09:00:00Z")
                .from("initiative", i5)
                .dim("personalisation"),
        )
        .await;
    }
    let i6 = initiative(
        app,
        o,
        bob.id,
        b,
        "implemented",
        "social",
        "problem_solving",
        "2026-02-05T09:00:00Z",
    )
    .await;
    for (points, reason) in [
        (5, "initiative_submitted"),
        (10, "initiative_approved"),
        (20, "initiative_implemented"),
    ] {
        write(
            app,
            o,
            credit(bob.id, b, points, reason, "2026-02-06T09:00:00Z")
                .from("initiative", i6)
                .dim("problem_solving"),
        )
        .await;
    }
    let i7 = initiative(
        app,
        o,
        bry.id,
        b,
        "submitted",
        "mail",
        "trust",
        "2026-03-05T09:00:00Z",
    )
    .await;
    write(
        app,
        o,
        credit(bry.id, b, 5, "initiative_submitted", "2026-03-05T09:00:00Z")
            .from("initiative", i7)
            .dim("trust"),
    )
    .await;
    recognition(
        app,
        o,
        bea.id,
        bud.id,
        b,
        15,
        Some("problem_solving"),
        "2026-02-20T09:00:00Z",
    )
    .await;
    let mut adjustment = credit(ben.id, b, 100, "adjustment", "2026-02-25T09:00:00Z");
    adjustment.by = Some(org.admin.id);
    write(app, o, adjustment).await;

    // Field: Fox recognises Fay; Fay's badge counts for Old, where she was then.
    recognition(app, o, fox.id, fay.id, f, 5, None, "2026-03-01T09:00:00Z").await;
    write(
        app,
        o,
        credit(fay.id, Some(old), 40, "badge", "2026-02-01T09:00:00Z").dim("trust"),
    )
    .await;

    // Mo moves to Support; his approval points are reversed there.
    app.post(
        &format!("/api/v1/members/{}/move", mo.id),
        &org.admin.token,
        json!({ "team_id": support }),
    )
    .await
    .ok();
    let mut reversal = credit(mo.id, s, -10, "reversal", "2026-03-20T09:00:00Z")
        .from("ledger_entry", approved)
        .dim("time_and_effort");
    reversal.reverses = Some(approved);
    reversal.by = Some(org.admin.id);
    write(app, o, reversal).await;
    app.post_empty(
        &format!("/api/v1/members/{}/deactivate", sax.id),
        &org.admin.token,
    )
    .await
    .ok();
    app.post_empty(&format!("/api/v1/teams/{old}/archive"), &org.admin.token)
        .await
        .ok();
    // Activity today is outside Q1: a recognition through the API.
    app.post(
        "/api/v1/recognitions",
        &lia.token,
        json!({ "recipients": [lyn.id], "message": "great week", "points": 10 }),
    )
    .await
    .ok();

    // KPIs. Support's March CSAT is corrected; periods starting outside Q1 do not count.
    let t = &hanna.token;
    kpi(app, t, support, "csat", "2025-12-01", "2026-01-01", 10.0).await;
    kpi(app, t, support, "csat", "2026-01-01", "2026-02-01", 70.0).await;
    kpi(app, t, support, "csat", "2026-02-01", "2026-03-01", 72.0).await;
    let march = kpi(app, t, support, "csat", "2026-03-01", "2026-04-01", 75.0).await;
    app.post(
        &format!("/api/v1/teams/{support}/kpis/{}/corrections", id_of(&march)),
        t,
        json!({ "value": 78.0, "note": "late survey answers" }),
    )
    .await
    .ok();
    kpi(app, t, support, "csat", "2026-04-01", "2026-05-01", 99.0).await;
    kpi(app, t, sales, "csat", "2026-01-01", "2026-02-01", 80.0).await;
    kpi(app, t, sales, "csat", "2026-03-01", "2026-04-01", 79.0).await;
    kpi(app, t, billing, "csat", "2026-01-01", "2026-02-01", 60.0).await;
    kpi(app, t, billing, "csat", "2026-02-01", "2026-03-01", 66.0).await;
    kpi(app, t, field, "csat", "2026-02-01", "2026-03-01", 90.0).await;
    // NPS for two teams only; CES changing by the same amount everywhere.
    kpi(app, t, support, "nps", "2026-01-01", "2026-02-01", 10.0).await;
    kpi(app, t, support, "nps", "2026-02-01", "2026-03-01", 20.0).await;
    kpi(app, t, sales, "nps", "2026-01-01", "2026-02-01", -5.0).await;
    kpi(app, t, sales, "nps", "2026-03-01", "2026-04-01", 0.0).await;
    for (team, first, last) in [(support, 4.0, 4.5), (sales, 5.0, 5.5), (billing, 3.0, 3.5)] {
        kpi(app, t, team, "ces", "2026-01-01", "2026-02-01", first).await;
        kpi(app, t, team, "ces", "2026-03-01", "2026-04-01", last).await;
    }

    Seeded {
        hanna,
        lead: sam,
        employee: sib,
        org,
        support,
        sales,
        billing,
        field,
        old,
    }
}

/// Another organisation, busy in the same quarter, with a team of the same name.
async fn seed_other(app: &TestApp) -> (Org, Uuid) {
    let org = app.seed_org("globex").await;
    let team = app.team(&org, "Support").await;
    let gus = app.member(&org, "Gus", Role::Employee, Some(team)).await;
    let i = initiative(
        app,
        org.id,
        gus.id,
        Some(team),
        "measured",
        "phone",
        "empathy",
        "2026-02-01T09:00:00Z",
    )
    .await;
    write(
        app,
        org.id,
        credit(
            gus.id,
            Some(team),
            1000,
            "initiative_measured",
            "2026-02-02T09:00:00Z",
        )
        .from("initiative", i)
        .dim("empathy"),
    )
    .await;
    recognition(
        app,
        org.id,
        gus.id,
        org.admin.id,
        None,
        30,
        None,
        "2026-02-03T09:00:00Z",
    )
    .await;
    let hr = app.member(&org, "Gina HR", Role::Hr, None).await;
    kpi(
        app,
        &hr.token,
        team,
        "csat",
        "2026-01-01",
        "2026-02-01",
        10.0,
    )
    .await;
    kpi(
        app,
        &hr.token,
        team,
        "csat",
        "2026-03-01",
        "2026-04-01",
        90.0,
    )
    .await;
    (org, team)
}

fn team(report: &Value, id: Uuid) -> &Value {
    report["teams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["team_id"] == id.to_string())
        .unwrap_or_else(|| panic!("team {id} is not in the report"))
}

#[track_caller]
fn close(v: &Value, expected: f64) {
    let got = v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
    assert!((got - expected).abs() < 1e-9, "{got} != {expected}");
}

fn funnel(v: &Value) -> [i64; 5] {
    let f = &v["initiatives"];
    [
        "submitted",
        "approved",
        "implemented",
        "measured",
        "declined",
    ]
    .map(|k| f[k].as_i64().unwrap())
}

fn points(v: &Value, by: &str) -> Vec<(String, i64)> {
    v[by]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, p)| p.as_i64() != Some(0))
        .map(|(k, p)| (k.clone(), p.as_i64().unwrap()))
        .collect()
}

fn s(pairs: &[(&str, i64)]) -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> = pairs.iter().map(|(k, p)| (k.to_string(), *p)).collect();
    v.sort();
    v
}

#[rocket::async_test]
async fn a_quarter_of_a_seeded_organisation_adds_up() {
    let app = TestApp::new().await;
    let w = seed(&app).await;
    let (other, other_team) = seed_other(&app).await;
    let r = app.get(Q1, &w.hanna.token).await;
    let report = r.ok().clone();

    assert_eq!(report["from"], "2026-01-01");
    assert_eq!(report["to"], "2026-04-01");
    assert_eq!(report["time_zone"], "Europe/Oslo");
    assert_eq!(report["starts_at"], "2025-12-31T23:00:00Z");
    assert_eq!(report["ends_at"], "2026-03-31T22:00:00Z");

    // Live teams by name; not the archived one, nor the other organisation's.
    let names: Vec<&str> = report["teams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Billing", "Field", "Sales", "Support"]);
    assert!(!r.text.contains(&other_team.to_string()));
    assert!(!r.text.contains(&w.old.to_string()));

    // Support: 5 members now (Mo included, Sax deactivated); Sam, Sib, Sue and Sid took part in
    // Support (Mo's activity was in Sales); Sid was recognised.
    let sup = team(&report, w.support);
    assert_eq!(sup["members"], 5);
    assert_eq!(sup["participants"], 4);
    close(&sup["participation_rate"], 0.8);
    assert_eq!(sup["recognised"], 1);
    close(&sup["recognition_reach"], 0.2);
    assert_eq!(funnel(sup), [3, 1, 1, 1, 1]);
    assert_eq!(sup["points"], 92);
    assert_eq!(
        points(sup, "points_by_dimension"),
        s(&[
            ("empathy", 85),
            ("expectations", 5),
            ("none", 7),
            ("time_and_effort", -10),
            ("trust", 5)
        ])
    );
    // The reversal counts under the channel of the entry it cancels (Mo's web win).
    assert_eq!(
        points(sup, "points_by_channel"),
        s(&[
            ("chat", 5),
            ("email", 5),
            ("other", 27),
            ("phone", 65),
            ("web", -10)
        ])
    );
    // Every key is present, zeros included.
    assert_eq!(sup["points_by_dimension"].as_object().unwrap().len(), 7);
    assert_eq!(sup["points_by_channel"].as_object().unwrap().len(), 9);
    assert_eq!(sup["points_by_channel"]["in_person"], 0);

    // Sales: Lou was recognised by HR; Mo's win stays in Sales' funnel and points.
    let sales = team(&report, w.sales);
    assert_eq!(sales["members"], 3);
    assert_eq!(sales["participants"], 1);
    close(&sales["participation_rate"], 1.0 / 3.0);
    assert_eq!(sales["recognised"], 1);
    close(&sales["recognition_reach"], 1.0 / 3.0);
    assert_eq!(funnel(sales), [1, 1, 0, 0, 0]);
    assert_eq!(
        points(sales, "points_by_dimension"),
        s(&[("none", 10), ("time_and_effort", 15)])
    );
    assert_eq!(
        points(sales, "points_by_channel"),
        s(&[("other", 10), ("web", 15)])
    );

    // Billing: an admin's adjustment is points, not participation.
    let billing = team(&report, w.billing);
    assert_eq!(billing["members"], 5);
    assert_eq!(billing["participants"], 4);
    close(&billing["participation_rate"], 0.8);
    close(&billing["recognition_reach"], 0.2);
    assert_eq!(funnel(billing), [3, 2, 1, 0, 0]);
    assert_eq!(billing["points"], 170);
    assert_eq!(
        points(billing, "points_by_dimension"),
        s(&[
            ("none", 100),
            ("personalisation", 15),
            ("problem_solving", 50),
            ("trust", 5)
        ])
    );
    assert_eq!(
        points(billing, "points_by_channel"),
        s(&[("app", 15), ("mail", 5), ("other", 115), ("social", 35)])
    );

    // Field has two members, fewer than the minimum group size: its figures are suppressed
    // (both took part, for 5 points: they would describe two people). Its KPIs stay.
    let field = team(&report, w.field);
    assert_eq!(field["suppressed"], true);
    for figure in [
        "members",
        "participants",
        "participation_rate",
        "points",
        "initiatives",
    ] {
        assert!(field.get(figure).is_none(), "{figure}: {field}");
    }
    for t in [sup, sales, billing] {
        assert_eq!(t["suppressed"], false);
    }

    // KPIs: first and last current values of periods starting in Q1.
    let csat = |t: &Value| {
        t["kpis"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kpi"] == "csat")
            .unwrap()
            .clone()
    };
    let c = csat(sup);
    assert_eq!(c["periods"], 3);
    assert_eq!(c["first"]["period_start"], "2026-01-01");
    assert_eq!(c["first"]["period_end"], "2026-02-01");
    close(&c["first"]["value"], 70.0);
    assert_eq!(c["first"]["sample_size"], 100);
    assert_eq!(c["last"]["period_start"], "2026-03-01");
    close(&c["last"]["value"], 78.0);
    close(&c["change"], 8.0);
    close(&csat(sales)["change"], -1.0);
    let c = csat(billing);
    assert_eq!(c["last"]["period_start"], "2026-02-01");
    close(&c["change"], 6.0);
    let c = csat(field);
    assert_eq!(c["periods"], 1);
    assert_eq!(c["change"], Value::Null);
    let kpi_names: Vec<&str> = sup["kpis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kpi"].as_str().unwrap())
        .collect();
    assert_eq!(kpi_names, ["ces", "csat", "nps"]);

    // The organisation: every active member (HR and the admin too) and every entry (Old's
    // included), none of globex's.
    let org = &report["organisation"];
    assert_eq!(org["members"], 17);
    assert_eq!(org["participants"], 13);
    close(&org["participation_rate"], 13.0 / 17.0);
    assert_eq!(org["recognised"], 4);
    close(&org["recognition_reach"], 4.0 / 17.0);
    assert_eq!(funnel(org), [7, 4, 2, 1, 1]);
    assert_eq!(org["points"], 332);
    assert_eq!(
        points(org, "points_by_dimension"),
        s(&[
            ("empathy", 85),
            ("expectations", 5),
            ("none", 122),
            ("personalisation", 15),
            ("problem_solving", 50),
            ("time_and_effort", 5),
            ("trust", 50),
        ])
    );
    assert_eq!(
        points(org, "points_by_channel"),
        s(&[
            ("app", 15),
            ("chat", 5),
            ("email", 5),
            ("mail", 5),
            ("other", 197),
            ("phone", 65),
            ("social", 35),
            ("web", 5),
        ])
    );

    // Correlations, by KPI. CSAT over Support (0.8, +8), Sales (1/3, -1), Billing (0.8, +6);
    // Field has one period, so no change. By hand: dx = 7/45, -14/45, 7/45 and dy = 11/3,
    // -16/3, 5/3, so sum dxdy = 336/135, sum dx2 = 294/2025, sum dy2 = 402/9 and
    // r = 336 / sqrt(294 * 402) = 0.97735...
    let correlations = org["correlations"].as_array().unwrap();
    let kpis: Vec<&str> = correlations
        .iter()
        .map(|c| c["kpi"].as_str().unwrap())
        .collect();
    assert_eq!(kpis, ["ces", "csat", "nps"]);
    let csat = &correlations[1];
    assert_eq!(csat["with"], "participation_rate");
    assert_eq!(csat["n"], 3);
    close(&csat["r"], 336.0 / (294.0f64 * 402.0).sqrt());
    assert!((csat["r"].as_f64().unwrap() - 0.97735).abs() < 1e-5);
    assert_eq!(csat["note"], Value::Null);
    let ces = &correlations[0];
    assert_eq!(ces["n"], 3);
    assert_eq!(ces["r"], Value::Null);
    assert!(
        ces["note"].as_str().unwrap().contains("same change"),
        "{ces}"
    );
    let nps = &correlations[2];
    assert_eq!(nps["n"], 2);
    assert_eq!(nps["r"], Value::Null);
    assert!(
        nps["note"].as_str().unwrap().contains("fewer than 3"),
        "{nps}"
    );

    // The other organisation sees only its own.
    let theirs = app.get(Q1, &other.admin.token).await;
    let theirs = theirs.ok();
    assert_eq!(theirs["teams"].as_array().unwrap().len(), 1);
    assert_eq!(theirs["organisation"]["points"], 1030);
    assert_eq!(theirs["organisation"]["members"], 3);
    // Their one team has a single member: suppressed, so it takes no part in a correlation.
    assert_eq!(theirs["organisation"]["correlations"][0]["n"], 0);
}

#[rocket::async_test]
async fn one_team_can_be_asked_for_archived_ones_too() {
    let app = TestApp::new().await;
    let w = seed(&app).await;
    let (_, other_team) = seed_other(&app).await;
    let whole = app.get(Q1, &w.org.admin.token).await.ok().clone();

    let r = app
        .get(&format!("{Q1}&team_id={}", w.sales), &w.org.admin.token)
        .await;
    let one = r.ok();
    assert_eq!(one["teams"].as_array().unwrap().len(), 1);
    assert_eq!(one["teams"][0], *team(&whole, w.sales));
    // The organisation and the correlations still cover every team.
    assert_eq!(one["organisation"], whole["organisation"]);

    let r = app
        .get(&format!("{Q1}&team_id={}", w.old), &w.org.admin.token)
        .await;
    let old = &r.ok()["teams"][0];
    assert_eq!(old["archived"], true);
    // No active members now: its past points (40, trust) would describe whoever was in it.
    assert_eq!(old["suppressed"], true);
    assert!(old.get("points").is_none() && old.get("members").is_none());

    // Another organisation's team, or none at all, is not found.
    app.get(&format!("{Q1}&team_id={other_team}"), &w.org.admin.token)
        .await
        .problem(404);
    app.get(
        &format!("{Q1}&team_id={}", Uuid::new_v4()),
        &w.org.admin.token,
    )
    .await
    .problem(404);
}

#[rocket::async_test]
async fn only_hr_and_admins_may_ask_and_bad_parameters_are_named() {
    let app = TestApp::new().await;
    let w = seed(&app).await;
    app.get(Q1, &w.employee.token).await.problem(403);
    app.get(Q1, &w.lead.token).await.problem(403);
    let key = app
        .post(
            "/api/v1/api-keys",
            &w.org.admin.token,
            json!({ "name": "cx", "scopes": ["kpis", "exports"] }),
        )
        .await;
    // API keys are for exports and KPIs, not analytics.
    app.get(Q1, key.body["key"].as_str().unwrap())
        .await
        .problem(401);
    app.request(rocket::http::Method::Get, Q1, None, None)
        .await
        .problem(401);
    app.get(Q1, &w.hanna.token).await.ok();

    let base = "/api/v1/analytics/engagement";
    let r = app.get(base, &w.hanna.token).await;
    r.invalid_field("from");
    r.invalid_field("to");
    let r = app
        .get(
            &format!("{base}?from=2026-13-01&to=tomorrow&team_id=nope"),
            &w.hanna.token,
        )
        .await;
    for field in ["from", "to", "team_id"] {
        r.invalid_field(field);
    }
    // `to` is exclusive and after `from`; the range is at most 731 days.
    for (from, to) in [
        ("2026-03-01", "2026-03-01"),
        ("2026-03-01", "2026-02-01"),
        ("2024-01-01", "2026-01-02"),
    ] {
        app.get(&format!("{base}?from={from}&to={to}"), &w.hanna.token)
            .await
            .invalid_field("to");
    }
    app.get(
        &format!("{base}?from=2024-01-01&to=2026-01-01"),
        &w.hanna.token,
    )
    .await
    .ok();
    // A range without activity: zeros, and rates over the members there are.
    let r = app
        .get(
            &format!("{base}?from=2020-01-01&to=2020-02-01"),
            &w.hanna.token,
        )
        .await;
    let empty = r.ok();
    assert_eq!(empty["organisation"]["participants"], 0);
    close(&empty["organisation"]["participation_rate"], 0.0);
    assert_eq!(empty["organisation"]["points"], 0);
    assert!(
        empty["organisation"]["correlations"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(team(empty, w.support)["kpis"], json!([]));
}
