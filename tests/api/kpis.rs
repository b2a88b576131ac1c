//! CX KPIs: recording by HR, admins and `kpis` API keys; refusals; validation; duplicates;
//! lists with history; corrections that supersede and keep history; concurrent corrections;
//! tenant isolation; audit entries.

use std::collections::HashSet;

use frontline::auth::Role;
use rocket::http::{ContentType, Header, Status};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::*;

fn kpis(team: Uuid) -> String {
    format!("/api/v1/teams/{team}/kpis")
}

fn corrections(team: Uuid, kpi: impl std::fmt::Display) -> String {
    format!("/api/v1/teams/{team}/kpis/{kpi}/corrections")
}

fn csat(start: &str, end: &str, value: f64) -> Value {
    json!({ "kpi": "csat", "period_start": start, "period_end": end, "value": value, "sample_size": 120 })
}

/// An API key with these scopes: (id, key).
async fn api_key(app: &TestApp, org: &Org, scopes: &[&str]) -> (Uuid, String) {
    let r = app
        .post(
            "/api/v1/api-keys",
            &org.admin.token,
            json!({ "name": "cx", "scopes": scopes }),
        )
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    (id_of(&r.body), r.body["key"].as_str().unwrap().to_string())
}

async fn record(app: &TestApp, token: &str, team: Uuid, body: Value) -> Value {
    let r = app.post(&kpis(team), token, body).await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    r.body
}

fn items(page: &Value) -> Vec<Value> {
    page["items"].as_array().unwrap().clone()
}

fn ids(page: &Value) -> Vec<Uuid> {
    items(page).iter().map(id_of).collect()
}

/// Support (lead Lea, employee Emma) and Sales (lead Lars); Hanna is HR.
struct World {
    org: Org,
    support: Uuid,
    sales: Uuid,
    lea: Actor,
    emma: Actor,
    lars: Actor,
    hanna: Actor,
}

async fn world(app: &TestApp, slug: &str) -> World {
    let org = app.seed_org(slug).await;
    let support = app.team(&org, "Support").await;
    let sales = app.team(&org, "Sales").await;
    World {
        lea: app
            .member(&org, "Lea Lead", Role::TeamLead, Some(support))
            .await,
        emma: app
            .member(&org, "Emma Employee", Role::Employee, Some(support))
            .await,
        lars: app
            .member(&org, "Lars Lead", Role::TeamLead, Some(sales))
            .await,
        hanna: app.member(&org, "Hanna HR", Role::Hr, None).await,
        org,
        support,
        sales,
    }
}

async fn audit(app: &TestApp, org: &Org, action: &str) -> Vec<Value> {
    let r = app
        .get(
            &format!("/api/v1/audit?action={action}&limit=200"),
            &org.admin.token,
        )
        .await;
    items(r.ok())
}

#[rocket::async_test]
async fn hr_admins_and_a_kpis_key_record_values_and_the_audit_log_says_who() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    let (key_id, key) = api_key(&app, &w.org, &["kpis"]).await;

    let by_hr = record(
        &app,
        &w.hanna.token,
        w.support,
        json!({ "kpi": "csat", "period_start": "2026-10-01", "period_end": "2026-11-01", "value": 81.5, "sample_size": 240, "note": "from the survey tool" }),
    )
    .await;
    assert_eq!(by_hr["kpi"], "csat");
    assert_eq!(by_hr["team_id"], w.support.to_string());
    assert_eq!(by_hr["period_start"], "2026-10-01");
    assert_eq!(by_hr["period_end"], "2026-11-01");
    assert_eq!(by_hr["value"], 81.5);
    assert_eq!(by_hr["sample_size"], 240);
    assert_eq!(by_hr["note"], "from the survey tool");
    assert_eq!(by_hr["current"], true);
    assert_eq!(by_hr["supersedes"], Value::Null);
    assert_eq!(by_hr["superseded_by"], Value::Null);
    assert_eq!(by_hr["recorded_by"], w.hanna.id.to_string());
    assert_eq!(by_hr["recorded_by_key"], Value::Null);

    let by_admin = record(
        &app,
        &w.org.admin.token,
        w.support,
        json!({ "kpi": "nps", "period_start": "2026-10-01", "period_end": "2026-11-01", "value": -12 }),
    )
    .await;
    assert_eq!(by_admin["value"], -12.0);
    assert_eq!(by_admin["sample_size"], Value::Null);
    assert_eq!(by_admin["recorded_by"], w.org.admin.id.to_string());

    // A machine client acts as itself.
    let by_key = record(
        &app,
        &key,
        w.sales,
        json!({ "kpi": "chat_resolution_rate", "period_start": "2026-10-01", "period_end": "2026-10-08", "value": -4200.25, "sample_size": 0 }),
    )
    .await;
    assert_eq!(by_key["recorded_by"], Value::Null);
    assert_eq!(by_key["recorded_by_key"], key_id.to_string());
    assert_eq!(by_key["sample_size"], 0);
    // The other known KPIs at the edges of their ranges.
    for (kpi, value) in [("ces", 1.0), ("ces", 7.0), ("fcr", 0.0), ("fcr", 100.0)] {
        let start = if value > 1.0 {
            "2026-09-01"
        } else {
            "2026-08-01"
        };
        let end = if value > 1.0 {
            "2026-10-01"
        } else {
            "2026-09-01"
        };
        record(
            &app,
            &w.hanna.token,
            w.sales,
            json!({ "kpi": kpi, "period_start": start, "period_end": end, "value": value }),
        )
        .await;
    }

    let entries = audit(&app, &w.org, "kpi_recorded").await;
    assert_eq!(entries.len(), 7);
    let of = |id: &Value| {
        entries
            .iter()
            .find(|e| e["subject_id"] == *id)
            .unwrap_or_else(|| panic!("no audit entry for {id}"))
            .clone()
    };
    let e = of(&by_hr["id"]);
    assert_eq!(e["actor_member_id"], w.hanna.id.to_string());
    assert_eq!(e["subject_type"], "team_kpi");
    assert_eq!(e["details"]["kpi"], "csat");
    assert_eq!(e["details"]["value"], 81.5);
    assert_eq!(e["details"]["team_id"], w.support.to_string());
    assert_eq!(
        of(&by_admin["id"])["actor_member_id"],
        w.org.admin.id.to_string()
    );
    let e = of(&by_key["id"]);
    assert_eq!(e["actor_api_key_id"], key_id.to_string());
    assert_eq!(e["actor_member_id"], Value::Null);
}

#[rocket::async_test]
async fn employees_leads_and_keys_without_the_scope_may_not_record() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    let body = csat("2026-10-01", "2026-11-01", 80.0);
    app.post(&kpis(w.support), &w.emma.token, body.clone())
        .await
        .problem(403);
    app.post(&kpis(w.support), &w.lea.token, body.clone())
        .await
        .problem(403);
    let (_, exports) = api_key(&app, &w.org, &["exports"]).await;
    let r = app.post(&kpis(w.support), &exports, body.clone()).await;
    r.problem(403);
    assert!(r.body["detail"].as_str().unwrap().contains("kpis"));

    let (key_id, key) = api_key(&app, &w.org, &["exports", "kpis"]).await;
    record(&app, &key, w.support, body.clone()).await;
    app.post(
        &format!("/api/v1/api-keys/{key_id}/revoke"),
        &w.org.admin.token,
        json!({}),
    )
    .await
    .ok();
    let other = csat("2026-11-01", "2026-12-01", 80.0);
    app.post(&kpis(w.support), &key, other.clone())
        .await
        .problem(401);
    app.post(&kpis(w.support), "flk_not-a-key", other.clone())
        .await
        .problem(401);
    app.request(
        rocket::http::Method::Post,
        &kpis(w.support),
        None,
        Some(other.clone()),
    )
    .await
    .problem(401);
    // Nothing but the one value was written.
    let page = app
        .get(
            &format!("{}?include_history=true", kpis(w.support)),
            &w.hanna.token,
        )
        .await;
    assert_eq!(items(page.ok()).len(), 1);
}

#[rocket::async_test]
async fn every_invalid_field_is_named_in_one_problem() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    let t = &w.hanna.token;
    let path = kpis(w.support);

    // Everything missing.
    let r = app.post(&path, t, json!({})).await;
    for field in ["kpi", "period_start", "period_end", "value"] {
        r.invalid_field(field);
    }
    // Everything wrong at once.
    let r = app
        .post(
            &path,
            t,
            json!({ "kpi": "Customer Sat", "period_start": "2026-13-01", "period_end": "01/12/2026",
                    "value": "high", "sample_size": -1, "note": "x".repeat(1001) }),
        )
        .await;
    let fields: HashSet<String> = r.problem(422)["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect();
    let expected: HashSet<String> = [
        "kpi",
        "period_start",
        "period_end",
        "value",
        "sample_size",
        "note",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(fields, expected, "{}", r.text);

    // Periods: the end is exclusive and after the start; at most 366 days.
    let with = |extra: Value| {
        let mut b = csat("2026-10-01", "2026-11-01", 80.0);
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    for end in ["2026-10-01", "2026-09-30", "2027-10-03"] {
        app.post(&path, t, with(json!({ "period_end": end })))
            .await
            .invalid_field("period_end");
    }
    app.post(
        &path,
        t,
        with(json!({ "period_start": "2026-01-01", "period_end": "2027-01-01" })),
    )
    .await
    .ok();
    // Ranges of the known KPIs.
    for (kpi, value) in [
        ("csat", -0.1),
        ("csat", 100.5),
        ("nps", -101.0),
        ("nps", 100.01),
        ("ces", 0.9),
        ("ces", 7.5),
        ("fcr", -1.0),
        ("fcr", 101.0),
    ] {
        app.post(&path, t, with(json!({ "kpi": kpi, "value": value })))
            .await
            .invalid_field("value");
    }
    // Names: the pattern, and at most 40 characters.
    for name in ["1st", "_x", "csat-2", "CSAT", "", &"k".repeat(41)] {
        app.post(&path, t, with(json!({ "kpi": name })))
            .await
            .invalid_field("kpi");
    }
    // Sample sizes are whole numbers, 0 or more.
    for s in [json!(-1), json!(1.5), json!("12"), json!(3_000_000_000i64)] {
        app.post(&path, t, with(json!({ "sample_size": s })))
            .await
            .invalid_field("sample_size");
    }
    // Unknown fields are refused by name; malformed JSON is a 400.
    app.post(&path, t, with(json!({ "unit": "%" })))
        .await
        .invalid_field("unit");
    let r = app
        .client
        .post(path.clone())
        .header(Header::new("Authorization", format!("Bearer {t}")))
        .header(ContentType::JSON)
        .body("{\"kpi\": ")
        .dispatch()
        .await;
    read(r).await.problem(400);
    // Nothing invalid was written (only the one-year period above).
    let page = app.get(&format!("{path}?include_history=true"), t).await;
    assert_eq!(items(page.ok()).len(), 1);
}

#[rocket::async_test]
async fn recording_a_period_twice_is_a_conflict_pointing_at_the_current_value() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    let t = &w.hanna.token;
    let first = record(&app, t, w.support, csat("2026-10-01", "2026-11-01", 80.0)).await;
    let r = app
        .post(&kpis(w.support), t, csat("2026-10-01", "2026-11-01", 82.0))
        .await;
    let body = r.problem(409);
    assert_eq!(body["existing_id"], first["id"]);
    assert_eq!(body["current"]["value"], 80.0);
    assert!(body["detail"].as_str().unwrap().contains("correct it"));
    // Another period, another KPI or another team is a new value.
    record(&app, t, w.support, csat("2026-10-01", "2027-01-01", 81.0)).await;
    record(&app, t, w.sales, csat("2026-10-01", "2026-11-01", 70.0)).await;
    record(
        &app,
        t,
        w.support,
        json!({ "kpi": "fcr", "period_start": "2026-10-01", "period_end": "2026-11-01", "value": 64 }),
    )
    .await;
    // After a correction the period still has a value: the corrected one.
    let fixed = app
        .post(
            &corrections(w.support, id_of(&first)),
            t,
            json!({ "value": 79.0, "note": "late responses" }),
        )
        .await;
    assert_eq!(fixed.status, Status::Created, "{}", fixed.text);
    let r = app
        .post(&kpis(w.support), t, csat("2026-10-01", "2026-11-01", 82.0))
        .await;
    assert_eq!(r.problem(409)["existing_id"], fixed.body["id"]);
}

#[rocket::async_test]
async fn concurrent_records_of_one_period_make_one_value() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    let body = csat("2026-10-01", "2026-11-01", 80.0).to_string();
    let requests = (0..10).map(|_| {
        app.client
            .post(kpis(w.support))
            .header(Header::new(
                "Authorization",
                format!("Bearer {}", w.hanna.token),
            ))
            .header(ContentType::JSON)
            .body(body.clone())
            .dispatch()
    });
    let mut statuses = Vec::new();
    for r in futures::future::join_all(requests).await {
        statuses.push(r.status());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == Status::Created).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == Status::Conflict).count(),
        9,
        "{statuses:?}"
    );
}

#[rocket::async_test]
async fn lists_show_current_values_and_history_on_request() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    let t = &w.hanna.token;
    let aug = record(&app, t, w.support, csat("2026-08-01", "2026-09-01", 70.0)).await;
    let sep = record(&app, t, w.support, csat("2026-09-01", "2026-10-01", 75.0)).await;
    let oct = record(&app, t, w.support, csat("2026-10-01", "2026-11-01", 80.0)).await;
    let nps = record(
        &app,
        t,
        w.support,
        json!({ "kpi": "nps", "period_start": "2026-09-01", "period_end": "2026-10-01", "value": 20 }),
    )
    .await;
    record(&app, t, w.sales, csat("2026-10-01", "2026-11-01", 60.0)).await;
    let fixed = app
        .post(
            &corrections(w.support, id_of(&sep)),
            t,
            json!({ "value": 76.5, "note": "a survey batch arrived late" }),
        )
        .await;
    let fixed = fixed.ok().clone();

    // Current values only, newest period first (and, in one period, newest recorded first).
    let page = app.get(&kpis(w.support), t).await;
    assert_eq!(
        ids(page.ok()),
        vec![id_of(&oct), id_of(&fixed), id_of(&nps), id_of(&aug)]
    );
    assert!(items(&page.body).iter().all(|k| k["current"] == true));
    assert_eq!(page.body["next_cursor"], Value::Null);

    // With history: the superseded value too, pointing at its successor.
    let page = app
        .get(&format!("{}?include_history=true", kpis(w.support)), t)
        .await;
    let all = items(page.ok());
    assert_eq!(all.len(), 5);
    let old = all.iter().find(|k| k["id"] == sep["id"]).unwrap();
    assert_eq!(old["current"], false);
    assert_eq!(old["superseded_by"], fixed["id"]);
    assert_eq!(old["value"], 75.0);
    let new = all.iter().find(|k| k["id"] == fixed["id"]).unwrap();
    assert_eq!(new["supersedes"], sep["id"]);
    assert_eq!(new["superseded_by"], Value::Null);

    // Filters: a KPI, and periods starting in [from, to).
    let page = app.get(&format!("{}?kpi=nps", kpis(w.support)), t).await;
    assert_eq!(ids(page.ok()), vec![id_of(&nps)]);
    let page = app
        .get(
            &format!("{}?kpi=csat&from=2026-09-01&to=2026-10-01", kpis(w.support)),
            t,
        )
        .await;
    assert_eq!(ids(page.ok()), vec![id_of(&fixed)]);

    // Pages of two, with history, visit every row once.
    let path = format!("{}?include_history=true&limit=2", kpis(w.support));
    let (items, _) = all_pages(&app, &path, "items", t).await;
    let seen: Vec<Uuid> = items.iter().map(id_of).collect();
    assert_eq!(
        seen,
        all.iter().map(id_of).collect::<Vec<_>>(),
        "pages agree with the whole list"
    );

    // Bad parameters are named.
    let r = app
        .get(
            &format!(
                "{}?kpi=Bad!&from=yesterday&include_history=maybe&limit=0&cursor=zzz",
                kpis(w.support)
            ),
            t,
        )
        .await;
    for field in ["kpi", "from", "include_history", "limit", "cursor"] {
        r.invalid_field(field);
    }
    app.get(
        &format!("{}?from=2026-10-01&to=2026-10-01", kpis(w.support)),
        t,
    )
    .await
    .invalid_field("to");
}

#[rocket::async_test]
async fn who_may_read_a_teams_kpis() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    record(
        &app,
        &w.hanna.token,
        w.support,
        csat("2026-10-01", "2026-11-01", 80.0),
    )
    .await;
    // HR, admins, the team's own lead and a kpis key may.
    let (_, key) = api_key(&app, &w.org, &["kpis"]).await;
    for token in [&w.hanna.token, &w.org.admin.token, &w.lea.token, &key] {
        let page = app.get(&kpis(w.support), token).await;
        assert_eq!(items(page.ok()).len(), 1);
    }
    // Employees, leads of other teams and keys without the scope may not.
    app.get(&kpis(w.support), &w.emma.token).await.problem(403);
    app.get(&kpis(w.support), &w.lars.token).await.problem(403);
    let (_, exports) = api_key(&app, &w.org, &["exports"]).await;
    app.get(&kpis(w.support), &exports).await.problem(403);
    // Leads may not write, even for their own team.
    app.post(
        &corrections(w.support, Uuid::new_v4()),
        &w.lea.token,
        json!({ "value": 1, "note": "x" }),
    )
    .await
    .problem(403);
}

#[rocket::async_test]
async fn a_correction_supersedes_the_value_and_keeps_its_history() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    let (key_id, key) = api_key(&app, &w.org, &["kpis"]).await;
    let t = &w.hanna.token;
    let first = record(&app, t, w.support, csat("2026-10-01", "2026-11-01", 80.0)).await;

    // A note is required, and the value keeps to the KPI's range.
    let r = app
        .post(
            &corrections(w.support, id_of(&first)),
            t,
            json!({ "value": 180 }),
        )
        .await;
    r.invalid_field("value");
    r.invalid_field("note");
    app.post(
        &corrections(w.support, id_of(&first)),
        t,
        json!({ "value": 70, "note": "   " }),
    )
    .await
    .invalid_field("note");
    app.post(
        &corrections(w.support, id_of(&first)),
        t,
        json!({ "value": 70, "note": "x", "kpi": "nps" }),
    )
    .await
    .invalid_field("kpi");

    // Absent sample_size keeps the corrected row's.
    let second = app
        .post(
            &corrections(w.support, id_of(&first)),
            t,
            json!({ "value": 78.25, "note": "test answers removed" }),
        )
        .await;
    assert_eq!(second.status, Status::Created, "{}", second.text);
    let second = second.body;
    assert_eq!(second["supersedes"], first["id"]);
    assert_eq!(second["value"], 78.25);
    assert_eq!(second["sample_size"], 120);
    assert_eq!(second["note"], "test answers removed");
    assert_eq!(second["kpi"], "csat");
    assert_eq!(second["period_start"], "2026-10-01");
    assert_eq!(second["period_end"], "2026-11-01");
    assert_eq!(second["current"], true);

    // Correcting the superseded row points at the current one.
    let r = app
        .post(
            &corrections(w.support, id_of(&first)),
            t,
            json!({ "value": 10, "note": "again" }),
        )
        .await;
    let body = r.problem(409);
    assert_eq!(body["current_id"], second["id"]);

    // A machine client corrects the current one; null clears the sample size.
    let third = app
        .post(
            &corrections(w.support, id_of(&second)),
            &key,
            json!({ "value": 78.0, "sample_size": null, "note": "re-imported" }),
        )
        .await;
    assert_eq!(third.status, Status::Created, "{}", third.text);
    let third = third.body;
    assert_eq!(third["sample_size"], Value::Null);
    assert_eq!(third["recorded_by_key"], key_id.to_string());
    // Deeper in the chain, the 409 still names the current value.
    let r = app
        .post(
            &corrections(w.support, id_of(&first)),
            t,
            json!({ "value": 10, "note": "again" }),
        )
        .await;
    assert_eq!(r.problem(409)["current_id"], third["id"]);

    // History: three rows, one current.
    let page = app
        .get(&format!("{}?include_history=true", kpis(w.support)), t)
        .await;
    let all = items(page.ok());
    assert_eq!(all.len(), 3);
    assert_eq!(all.iter().filter(|k| k["current"] == true).count(), 1);
    let current = app.get(&kpis(w.support), t).await;
    assert_eq!(ids(current.ok()), vec![id_of(&third)]);

    // Audited with the old and new values and who did it.
    let entries = audit(&app, &w.org, "kpi_corrected").await;
    assert_eq!(entries.len(), 2);
    let by_hr = entries
        .iter()
        .find(|e| e["subject_id"] == second["id"])
        .unwrap();
    assert_eq!(by_hr["actor_member_id"], w.hanna.id.to_string());
    assert_eq!(by_hr["details"]["supersedes"], first["id"]);
    assert_eq!(by_hr["details"]["previous_value"], 80.0);
    assert_eq!(by_hr["details"]["value"], 78.25);
    assert_eq!(by_hr["details"]["note"], "test answers removed");
    let by_key = entries
        .iter()
        .find(|e| e["subject_id"] == third["id"])
        .unwrap();
    assert_eq!(by_key["actor_api_key_id"], key_id.to_string());

    // The rows themselves cannot be changed behind the API's back.
    let mut conn = app.db.conn().await;
    use diesel_async::RunQueryDsl;
    let refused = diesel::sql_query("UPDATE team_kpis SET value = 1")
        .execute(&mut conn)
        .await;
    assert!(refused.is_err());
}

#[rocket::async_test]
async fn of_ten_concurrent_corrections_exactly_one_wins() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    let first = record(
        &app,
        &w.hanna.token,
        w.support,
        csat("2026-10-01", "2026-11-01", 80.0),
    )
    .await;
    let path = corrections(w.support, id_of(&first));
    let requests = (0..10).map(|i| {
        app.client
            .post(path.clone())
            .header(Header::new(
                "Authorization",
                format!("Bearer {}", w.hanna.token),
            ))
            .header(ContentType::JSON)
            .body(json!({ "value": 70 + i, "note": format!("correction {i}") }).to_string())
            .dispatch()
    });
    let mut created = Vec::new();
    let mut conflicts = Vec::new();
    for r in futures::future::join_all(requests).await {
        let r = read(r).await;
        match r.status {
            Status::Created => created.push(r.body),
            Status::Conflict => conflicts.push(r.body),
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert_eq!((created.len(), conflicts.len()), (1, 9));
    for c in &conflicts {
        assert_eq!(c["current_id"], created[0]["id"], "{c}");
    }
    let page = app
        .get(
            &format!("{}?include_history=true", kpis(w.support)),
            &w.hanna.token,
        )
        .await;
    assert_eq!(items(page.ok()).len(), 2);
    assert_eq!(audit(&app, &w.org, "kpi_corrected").await.len(), 1);
}

#[rocket::async_test]
async fn another_organisations_teams_and_values_are_not_found() {
    let app = TestApp::new().await;
    let a = world(&app, "acme").await;
    let b = world(&app, "globex").await;
    let value = record(
        &app,
        &a.hanna.token,
        a.support,
        csat("2026-10-01", "2026-11-01", 80.0),
    )
    .await;
    let body = csat("2026-11-01", "2026-12-01", 80.0);
    let (_, b_key) = api_key(&app, &b.org, &["kpis"]).await;
    for token in [&b.hanna.token, &b.org.admin.token, &b_key] {
        app.post(&kpis(a.support), token, body.clone())
            .await
            .problem(404);
        app.get(&kpis(a.support), token).await.problem(404);
        app.post(
            &corrections(a.support, id_of(&value)),
            token,
            json!({ "value": 1, "note": "mine now" }),
        )
        .await
        .problem(404);
        // A's value under B's own team is no value of that team.
        app.post(
            &corrections(b.support, id_of(&value)),
            token,
            json!({ "value": 1, "note": "mine now" }),
        )
        .await
        .problem(404);
    }
    // Within one organisation, a value of another team is not found under this one.
    app.post(
        &corrections(a.sales, id_of(&value)),
        &a.hanna.token,
        json!({ "value": 1, "note": "wrong team" }),
    )
    .await
    .problem(404);
    // Malformed and unknown ids are 404 like the rest.
    app.post(&kpis(Uuid::new_v4()), &a.hanna.token, body.clone())
        .await
        .problem(404);
    app.post("/api/v1/teams/not-an-id/kpis", &a.hanna.token, body.clone())
        .await
        .problem(404);
    app.post(
        &format!("/api/v1/teams/{}/kpis/nope/corrections", a.support),
        &a.hanna.token,
        json!({ "value": 1, "note": "x" }),
    )
    .await
    .problem(404);
    // And B's team lead cannot read A's team either.
    app.get(&kpis(a.support), &b.lea.token).await.problem(404);
    // A's value is untouched.
    let page = app
        .get(
            &format!("{}?include_history=true", kpis(a.support)),
            &a.hanna.token,
        )
        .await;
    assert_eq!(ids(page.ok()), vec![id_of(&value)]);
    assert!(audit(&app, &b.org, "kpi_recorded").await.is_empty());
}

/// A repeated query field is refused, naming it, whoever calls: a member's token or an API key
/// (the refusal sits in front of every route with a query, not in one guard).
#[rocket::async_test]
async fn a_query_field_given_twice_is_refused_for_an_api_key_too() {
    let app = TestApp::new().await;
    let w = world(&app, "acme-twice").await;
    let (_, key) = api_key(&app, &w.org, &["kpis"]).await;
    for token in [&key, &w.hanna.token] {
        app.get(&format!("{}?limit=1&limit=2", kpis(w.support)), token)
            .await
            .invalid_field("limit");
        app.get(
            &format!(
                "{}?include_history=true&include_history=false",
                kpis(w.support)
            ),
            token,
        )
        .await
        .invalid_field("include_history");
    }
    // One of each is answered.
    app.get(
        &format!("{}?limit=1&include_history=true", kpis(w.support)),
        &key,
    )
    .await
    .ok();
}
