//! Issue #12 ("points people can trust"), items 8, 11 and 12: exports' connections and limits,
//! the privacy promises of pseudonymised exports and analytics, and erasure and my data.

use std::time::Duration;

use chrono::{Days, Utc};
use diesel_async::RunQueryDsl;
use frontline::auth::Role;
use rocket::http::{Header, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::*;

const EXPORT: &str = "/api/v1/exports/engagement";

async fn audit(app: &TestApp, org: &Org, query: &str) -> Vec<Value> {
    app.get(&format!("/api/v1/audit?{query}"), &org.admin.token)
        .await
        .ok()["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// Dispatch an export and keep its response unread: the export then holds its connection,
/// its transaction and its organisation's slot, as a slow download does.
async fn open_export<'c>(client: &'c Client, bearer: &str, query: &str) -> LocalResponse<'c> {
    client
        .get(format!("{EXPORT}{query}"))
        .header(Header::new("Authorization", format!("Bearer {bearer}")))
        .dispatch()
        .await
}

fn ndjson(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

async fn recognise(app: &TestApp, from: &Actor, to: &Actor) {
    app.post(
        "/api/v1/recognitions",
        &from.token,
        json!({ "recipients": [to.id], "message": "thank you", "points": 1 }),
    )
    .await
    .ok();
}

async fn set_min_group_size(app: &TestApp, org: &Org, n: i32) {
    app.patch(
        "/api/v1/organisation",
        &org.admin.token,
        json!({ "min_group_size": n }),
    )
    .await
    .ok();
}

// --- item 8: exports' own connections, time limit and per-organisation slots -----------------

fn export_limits(f: rocket::figment::Figment) -> rocket::figment::Figment {
    use frontline::config::with_override;
    // Fewer ordinary connections than exports held open below: on a shared pool the ordinary
    // requests would wait for a connection and answer 503.
    let f = with_override(f, "db_pool_size", 2);
    let f = with_override(f, "export_pool_size", 4);
    with_override(f, "export_concurrency_per_organisation", 2)
}

#[rocket::async_test]
async fn exports_have_their_own_connections_and_a_limit_per_organisation_across_processes() {
    let app = TestApp::with(export_limits).await;
    let acme = app.seed_org("acme").await;
    let hr = app.member(&acme, "Hana", Role::Hr, None).await;
    let other = app.seed_org("other").await;

    // Two of acme's exports are held open (clients reading slowly).
    let first = open_export(&app.client, &hr.token, "?format=ndjson").await;
    let second = open_export(&app.client, &acme.admin.token, "").await;
    assert_eq!(first.status(), Status::Ok);
    assert_eq!(second.status(), Status::Ok);

    // The third is refused, with a time to come back.
    let third = read(open_export(&app.client, &hr.token, "").await).await;
    third.problem(429);
    assert_eq!(third.header("Retry-After"), Some("10"));
    assert_eq!(third.body["retry_after"], 10);
    // Refused exports are not audited as exports.
    assert_eq!(audit(&app, &acme, "action=export").await.len(), 2);

    // A second server process on the same database counts the same slots.
    let figment = export_limits(figment_for(&app.db));
    let second_process = Client::tracked(frontline::rocket(figment).unwrap())
        .await
        .unwrap();
    read(open_export(&second_process, &hr.token, "").await)
        .await
        .problem(429);

    // Another organisation is served, and ordinary requests keep working meanwhile.
    let theirs = open_export(&second_process, &other.admin.token, "").await;
    assert_eq!(theirs.status(), Status::Ok);
    for _ in 0..6 {
        app.get("/api/v1/me", &hr.token).await.ok();
        app.get("/api/v1/organisation", &acme.admin.token)
            .await
            .ok();
        app.get("/api/v1/teams", &other.admin.token).await.ok();
    }

    // A finished export gives its slot back.
    let done = read(first).await;
    assert_eq!(done.status, Status::Ok);
    assert!(!done.text.contains("\"error\""), "{}", done.text);
    let again = read(open_export(&second_process, &hr.token, "").await).await;
    assert_eq!(again.status, Status::Ok, "{}", again.text);
    assert!(again.text.starts_with('\u{feff}'), "a complete CSV export");
    drop(second);
    drop(theirs);
}

#[rocket::async_test]
async fn a_client_too_slow_to_read_loses_its_export_and_its_slot() {
    let app = TestApp::with(|f| {
        use frontline::config::with_override;
        let f = with_override(f, "export_concurrency_per_organisation", 1);
        with_override(f, "export_statement_timeout_ms", 1500)
    })
    .await;
    let acme = app.seed_org("acme").await;
    let stalled = open_export(&app.client, &acme.admin.token, "?format=ndjson").await;
    assert_eq!(stalled.status(), Status::Ok);
    read(open_export(&app.client, &acme.admin.token, "").await)
        .await
        .problem(429);
    // Idle in its transaction for longer than the limit: the database ends the session,
    // which releases the slot.
    tokio::time::sleep(Duration::from_millis(4000)).await;
    let next = read(open_export(&app.client, &acme.admin.token, "?format=ndjson").await).await;
    assert_eq!(next.status, Status::Ok, "{}", next.text);
    assert!(!next.text.contains("\"error\""));
    // The stalled export ends with the failure marker instead of passing for complete.
    let stalled = read(stalled).await;
    assert!(
        stalled
            .text
            .ends_with("{\"error\":\"export failed before it was complete; retry it\"}\n"),
        "{}",
        stalled.text
    );
}

// --- item 11: pseudonymised exports and analytics ----------------------------------------------

#[rocket::async_test]
async fn min_group_size_cannot_go_below_three_and_its_changes_are_audited() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let hr = app.member(&org, "Hana", Role::Hr, None).await;
    for bad in [2, 0, -1, 1001] {
        app.patch(
            "/api/v1/organisation",
            &org.admin.token,
            json!({ "min_group_size": bad }),
        )
        .await
        .invalid_field("min_group_size");
    }
    app.patch(
        "/api/v1/organisation",
        &org.admin.token,
        json!({ "min_group_size": "three" }),
    )
    .await
    .invalid_field("min_group_size");
    app.patch(
        "/api/v1/organisation",
        &hr.token,
        json!({ "min_group_size": 3 }),
    )
    .await
    .problem(403);
    let r = app
        .patch(
            "/api/v1/organisation",
            &org.admin.token,
            json!({ "min_group_size": 3 }),
        )
        .await;
    assert_eq!(r.ok()["min_group_size"], 3);
    let changes = audit(&app, &org, "action=organisation_settings_changed").await;
    assert_eq!(changes.len(), 1, "refused changes are not recorded");
    assert_eq!(changes[0]["actor_member_id"], org.admin.id.to_string());
    assert_eq!(changes[0]["details"]["changes"]["min_group_size"], 3);
    assert_eq!(changes[0]["details"]["before"]["min_group_size"], 5);
}

#[rocket::async_test]
async fn an_organisation_can_make_every_export_pseudonymised() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let care = app.team(&org, "Care").await;
    let hr = app.member(&org, "Hana", Role::Hr, None).await;
    let ana = app.member(&org, "Ana", Role::Employee, Some(care)).await;
    let key = app
        .post(
            "/api/v1/api-keys",
            &org.admin.token,
            json!({ "name": "hris", "scopes": ["exports"] }),
        )
        .await;
    let key = key.ok()["key"].as_str().unwrap().to_string();

    let named = read(open_export(&app.client, &hr.token, "").await).await;
    assert_eq!(named.header("X-Pseudonymised"), Some("no"));
    assert!(named.text.contains(&ana.email));

    // Only admins change the setting, and the change is audited.
    app.patch(
        "/api/v1/organisation",
        &hr.token,
        json!({ "pseudonymised_exports_only": true }),
    )
    .await
    .problem(403);
    let r = app
        .patch(
            "/api/v1/organisation",
            &org.admin.token,
            json!({ "pseudonymised_exports_only": true }),
        )
        .await;
    assert_eq!(r.ok()["pseudonymised_exports_only"], true);
    let changed = audit(&app, &org, "action=organisation_settings_changed").await;
    assert_eq!(
        changed[0]["details"]["changes"]["pseudonymised_exports_only"],
        true
    );

    // Asked for without pseudonymisation, by HR, an admin or an API key: pseudonymised.
    for (bearer, query) in [
        (hr.token.as_str(), ""),
        (org.admin.token.as_str(), "?pseudonymise=false"),
        (key.as_str(), "?format=ndjson"),
    ] {
        let r = read(open_export(&app.client, bearer, query).await).await;
        assert_eq!(r.status, Status::Ok, "{}", r.text);
        assert_eq!(r.header("X-Pseudonymised"), Some("organisation-setting"));
        assert!(
            r.header("Content-Disposition")
                .unwrap()
                .contains("-pseudonymised-")
        );
        for secret in [ana.email.clone(), "Ana".into(), ana.id.to_string()] {
            assert!(!r.text.contains(&secret), "{secret} in {}", r.text);
        }
        assert!(r.text.contains("P-"));
    }
    let asked = read(open_export(&app.client, &hr.token, "?pseudonymise=true").await).await;
    assert_eq!(asked.header("X-Pseudonymised"), Some("requested"));
    let exports = audit(&app, &org, "action=export").await;
    assert_eq!(exports.len(), 5);
    // Newest first: the requested one, then the three the setting imposed.
    assert_eq!(exports[0]["details"]["pseudonymised"], "requested");
    for e in &exports[1..4] {
        assert_eq!(e["details"]["pseudonymise"], true);
        assert_eq!(e["details"]["pseudonymised"], "organisation-setting");
    }
    assert_eq!(exports[4]["details"]["pseudonymised"], "no");
}

#[rocket::async_test]
async fn pseudonymised_exports_suppress_members_without_a_team_and_count_active_members() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    set_min_group_size(&app, &org, 3).await;
    let care = app.team(&org, "Care").await;
    let hr = app.member(&org, "Hana", Role::Hr, None).await;
    let ana = app.member(&org, "Ana", Role::Employee, Some(care)).await;
    let ben = app.member(&org, "Ben", Role::Employee, Some(care)).await;
    let cara = app.member(&org, "Cara", Role::Employee, Some(care)).await;
    let _dan = app.member(&org, "Dan", Role::Employee, Some(care)).await;
    let solo = app.member(&org, "Solo", Role::Employee, None).await;
    recognise(&app, &ana, &ben).await;
    recognise(&app, &solo, &ana).await;

    // Member rows: nobody without a team is shown as such (they would be a group of their own).
    let r = read(
        open_export(
            &app.client,
            &hr.token,
            "?pseudonymise=true&format=ndjson&granularity=month",
        )
        .await,
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{}", r.text);
    let rows = ndjson(&r.text);
    // Solo, Hana and the admin have no team; Care's four have one.
    let suppressed = rows
        .iter()
        .filter(|o| o["team_name"] == "suppressed")
        .count();
    let in_care = rows.iter().filter(|o| o["team_name"] == "Care").count();
    assert_eq!(in_care % 4, 0);
    assert!(in_care > 0);
    assert_eq!(suppressed, rows.len() - in_care);
    assert_eq!(suppressed % 3, 0);
    assert!(suppressed > 0);
    assert!(rows.iter().all(|o| !o["team_name"].is_null()));

    // Team rows: Care has four members but only Ana and Ben were active this month: two
    // people's figures are not shown, whatever the headcount.
    let this_month = "?pseudonymise=true&format=ndjson&group_by=team";
    let named = ndjson(
        &read(open_export(&app.client, &hr.token, "?format=ndjson&group_by=team").await)
            .await
            .text,
    );
    let current = named.last().unwrap().clone();
    assert_eq!(current["members"], 4);
    assert_eq!(current["active_members"], 2);
    let rows = ndjson(
        &read(open_export(&app.client, &hr.token, this_month).await)
            .await
            .text,
    );
    assert!(rows.is_empty(), "{rows:?}");
    // A third active member makes the group large enough.
    recognise(&app, &cara, &ben).await;
    let rows = ndjson(
        &read(open_export(&app.client, &hr.token, this_month).await)
            .await
            .text,
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["team_name"], "Care");
    assert_eq!(rows[0]["active_members"], 3);
}

/// The organisation's totals minus the shown teams' must not be one small group's figures:
/// when what the shown teams leave out (small teams and the teamless) is fewer than
/// `min_group_size` people, the smallest shown team is withheld too.
#[rocket::async_test]
async fn engagement_analytics_do_not_reveal_a_small_team_by_subtraction() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    set_min_group_size(&app, &org, 3).await;
    let big = app.team(&org, "Big").await;
    let mid = app.team(&org, "Mid").await;
    let small = app.team(&org, "Small").await;
    let mut people = Vec::new();
    for (i, team) in [big, big, big, big, mid, mid, mid, small]
        .into_iter()
        .enumerate()
    {
        people.push(
            app.member(&org, &format!("Member {i}"), Role::Employee, Some(team))
                .await,
        );
    }
    // The small team's one member is the only one recognised.
    recognise(&app, &people[0], &people[7]).await;
    let today = Utc::now().date_naive();
    let query = format!(
        "/api/v1/analytics/engagement?from={}&to={}",
        today - Days::new(30),
        today + Days::new(2)
    );
    // Left out: Small (1) and the admin, who has no team (1): 2 < 3, so Mid (the smallest
    // shown) goes too, and the organisation's totals minus Big's are 5 people's.
    let report = app.get(&query, &org.admin.token).await.ok().clone();
    let suppressed = |id: Uuid| {
        report["teams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["team_id"] == id.to_string())
            .unwrap()["suppressed"]
            .clone()
    };
    assert_eq!(suppressed(small), true);
    assert_eq!(suppressed(mid), true);
    assert_eq!(suppressed(big), false);
    assert_eq!(report["organisation"]["members"], 9);
}

#[rocket::async_test]
async fn engagement_analytics_suppress_teams_with_too_few_active_members() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    set_min_group_size(&app, &org, 3).await;
    let big = app.team(&org, "Big").await;
    let small = app.team(&org, "Small").await;
    let hr = app.member(&org, "Hana", Role::Hr, None).await;
    let ana = app.member(&org, "Ana", Role::Employee, Some(big)).await;
    let ben = app.member(&org, "Ben", Role::Employee, Some(big)).await;
    let cara = app.member(&org, "Cara", Role::Employee, Some(big)).await;
    let sid = app.member(&org, "Sid", Role::Employee, Some(small)).await;
    let sue = app.member(&org, "Sue", Role::Employee, Some(small)).await;
    recognise(&app, &ana, &ben).await;
    recognise(&app, &sid, &sue).await;
    let today = Utc::now().date_naive();
    let query = format!(
        "/api/v1/analytics/engagement?from={}&to={}",
        today - Days::new(30),
        today + Days::new(2)
    );
    let team = |report: &Value, id: Uuid| -> Value {
        report["teams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["team_id"] == id.to_string())
            .unwrap()
            .clone()
    };
    let r = app.get(&query, &hr.token).await;
    let report = r.ok().clone();
    let b = team(&report, big);
    assert_eq!(b["suppressed"], false);
    assert_eq!(b["members"], 3);
    assert_eq!(b["participants"], 2);
    let s = team(&report, small);
    assert_eq!(s["suppressed"], true);
    for figure in [
        "members",
        "participants",
        "participation_rate",
        "recognised",
        "points",
        "initiatives",
        "points_by_dimension",
    ] {
        assert!(s.get(figure).is_none(), "{figure} of a small team: {s}");
    }
    assert_eq!(s["name"], "Small");
    // The organisation's own figures still count everyone.
    assert_eq!(report["organisation"]["participants"], 4);

    // Active members, not headcount: a deactivated member no longer makes Big large enough.
    app.post_empty(
        &format!("/api/v1/members/{}/deactivate", cara.id),
        &org.admin.token,
    )
    .await
    .ok();
    let report = app.get(&query, &hr.token).await.ok().clone();
    let b = team(&report, big);
    assert_eq!(b["suppressed"], true);
    assert!(b.get("participants").is_none());
}

// --- item 12: erasure and my data ---------------------------------------------------------------

async fn single_text(app: &TestApp, sql: &str, id: Uuid) -> Vec<Option<String>> {
    #[derive(diesel::QueryableByName)]
    struct T {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        t: Option<String>,
    }
    let mut conn = app.db.conn().await;
    diesel::sql_query(sql)
        .bind::<diesel::sql_types::Uuid, _>(id)
        .load::<T>(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.t)
        .collect()
}

#[rocket::async_test]
async fn erasure_blanks_everything_the_member_wrote_and_the_responses_that_quote_them() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let care = app.team(&org, "Care").await;
    let lead = app.member(&org, "Lara", Role::TeamLead, Some(care)).await;
    let ana = app
        .member(&org, "Ana Andersen", Role::Employee, Some(care))
        .await;
    let ben = app.member(&org, "Ben", Role::Employee, Some(care)).await;
    let eve = app.member(&org, "Eve Evans", Role::Admin, None).await;

    // Ana's win, approved by her lead, then implemented and measured by her, with her own words
    // in the outcome.
    let win = app
        .post(
            "/api/v1/initiatives",
            &ana.token,
            json!({ "title": "Callback plan", "description": "d", "dimension": "empathy",
                    "channel": "phone", "journey_stage": "after", "customer_value": 4,
                    "organisation_value": 4, "ease": 4 }),
        )
        .await;
    let win = win.ok()["id"].as_str().unwrap().to_string();
    app.post(
        &format!("/api/v1/initiatives/{win}/approve"),
        &lead.token,
        json!({}),
    )
    .await
    .ok();
    // With the mandate on, an author marks her own win implemented and measured (#12 item 3).
    app.patch(
        "/api/v1/organisation",
        &eve.token,
        json!({ "mandate": true }),
    )
    .await
    .ok();
    app.post(
        &format!("/api/v1/initiatives/{win}/implement"),
        &ana.token,
        json!({ "note": "Ana's rollout notes" }),
    )
    .await
    .ok();
    app.post(
        &format!("/api/v1/initiatives/{win}/measure"),
        &ana.token,
        json!({ "kpi": "Andersen callback index", "unit": "andersens", "baseline": 1.0,
                "result": 2.0, "measured_at": "2026-01-15T10:00:00Z", "note": "Ana measured" }),
    )
    .await
    .ok();
    app.post(
        &format!("/api/v1/initiatives/{win}/comments"),
        &ana.token,
        json!({ "body": "Ana's comment about Mrs Jensen" }),
    )
    .await
    .ok();
    // Eve, an admin, writes notes on the ledger and on a KPI value.
    let adjustment = app
        .post(
            "/api/v1/ledger/adjustments",
            &eve.token,
            json!({ "member_id": ben.id, "points": 7, "reason": "Eve's remark on Ben's health" }),
        )
        .await;
    let adjustment = adjustment.ok()["id"].as_str().unwrap().to_string();
    app.post(
        &format!("/api/v1/ledger/{adjustment}/reverse"),
        &eve.token,
        json!({ "reason": "Eve's second thoughts" }),
    )
    .await
    .ok();
    let kpi = app
        .post(
            &format!("/api/v1/teams/{care}/kpis"),
            &eve.token,
            json!({ "kpi": "csat", "period_start": "2026-10-01", "period_end": "2026-11-01",
                    "value": 80.0, "note": "Eve's KPI note" }),
        )
        .await;
    let kpi = id_of(kpi.ok());
    app.post(
        &format!("/api/v1/teams/{care}/kpis/{kpi}/corrections"),
        &eve.token,
        json!({ "value": 81.0, "note": "Eve's correction note" }),
    )
    .await
    .ok();
    // Lara recognises Ana with an Idempotency-Key: the stored response names Ana.
    let recognition = json!({ "recipients": [ana.id], "message": "well done", "points": 5 });
    let send = || {
        app.client
            .post("/api/v1/recognitions")
            .header(Header::new(
                "Authorization",
                format!("Bearer {}", lead.token),
            ))
            .header(Header::new("Idempotency-Key", "lara-1"))
            .header(rocket::http::ContentType::JSON)
            .body(recognition.to_string())
            .dispatch()
    };
    let first = read(send().await).await;
    first.ok();
    assert!(first.text.contains("Ana Andersen"), "{}", first.text);
    let replay = read(send().await).await;
    assert_eq!(replay.header("Idempotent-Replayed"), Some("true"));

    for who in [ana.id, eve.id] {
        app.post_empty(&format!("/api/v1/members/{who}/erase"), &org.admin.token)
            .await
            .ok();
    }

    // The outcome keeps its numbers and loses its words.
    let initiative = app
        .get(&format!("/api/v1/initiatives/{win}"), &lead.token)
        .await;
    let text = initiative.ok().to_string();
    for secret in ["Andersen", "andersens", "Ana's", "Jensen"] {
        assert!(!text.contains(secret), "{secret} survived: {text}");
    }
    assert_eq!(initiative.body["outcome"]["result"], 2.0);
    let comments = app
        .get(&format!("/api/v1/initiatives/{win}/comments"), &lead.token)
        .await;
    assert!(!comments.ok().to_string().contains("Jensen"));
    // Notes on the ledger entries and KPI values Eve created are blanked; the points and the
    // values are untouched.
    let points = app
        .get(
            &format!("/api/v1/members/{}/points", ben.id),
            &org.admin.token,
        )
        .await;
    let text = points.ok().to_string();
    assert!(!text.contains("Eve's"), "{text}");
    assert!(text.contains("[erased]"), "{text}");
    let kpis = app
        .get(&format!("/api/v1/teams/{care}/kpis"), &org.admin.token)
        .await;
    let text = kpis.ok().to_string();
    assert!(
        !text.contains("Eve's") && text.contains("[erased]"),
        "{text}"
    );
    assert!(text.contains("81"), "{text}");
    // The audit entry of the correction quoted Eve's note; it keeps everything else.
    let corrected = audit(&app, &org, "action=kpi_corrected").await;
    assert_eq!(corrected.len(), 1);
    assert_eq!(corrected[0]["details"]["note"], "[erased]");
    assert_eq!(corrected[0]["details"]["value"], 81.0);
    assert_eq!(corrected[0]["actor_member_id"], eve.id.to_string());
    assert_eq!(
        single_text(
            &app,
            "SELECT note AS t FROM ledger_entries WHERE created_by = $1 ORDER BY created_at",
            eve.id,
        )
        .await,
        [Some("[erased]".to_string()), Some("[erased]".to_string())]
    );
    // Lara's stored response quoted Ana: it is rewritten, not deleted, so Lara's retry still
    // replays (deleting it would give the recognition again) without Ana's name.
    let retried = read(send().await).await;
    assert_eq!(retried.header("Idempotent-Replayed"), Some("true"));
    assert!(!retried.text.contains("Andersen"), "{}", retried.text);
    assert!(retried.text.contains("well done"), "{}", retried.text);
    assert_eq!(retried.status, first.status);
    assert_eq!(
        single_text(
            &app,
            "SELECT count(*)::text AS t FROM recognitions WHERE giver_id = $1",
            lead.id,
        )
        .await,
        [Some("1".to_string())]
    );

    // Even during an erasure, the append-only tables let only the note column change.
    let mut conn = app.db.conn().await;
    for sql in [
        "UPDATE ledger_entries SET points = points + 1",
        "UPDATE team_kpis SET value = 1",
        "UPDATE initiative_events SET kind = 'approved'",
        "UPDATE audit_log SET action = 'export'",
        "UPDATE audit_log SET details = details || '{\"value\": 1}'",
        "DELETE FROM ledger_entries",
    ] {
        let err = diesel::sql_query(format!(
            "DO $$ BEGIN PERFORM set_config('frontline.erasure', 'on', true); {sql}; END $$"
        ))
        .execute(&mut conn)
        .await
        .unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
}

#[rocket::async_test]
async fn my_data_holds_what_i_created_and_did_and_is_never_cached() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let care = app.team(&org, "Care").await;
    let ana = app.member(&org, "Ana", Role::Employee, Some(care)).await;
    let adjustment = app
        .post(
            "/api/v1/ledger/adjustments",
            &org.admin.token,
            json!({ "member_id": ana.id, "points": 4, "reason": "for the fair" }),
        )
        .await;
    adjustment.ok();
    app.post(
        &format!("/api/v1/teams/{care}/kpis"),
        &org.admin.token,
        json!({ "kpi": "nps", "period_start": "2026-10-01", "period_end": "2026-11-01",
                "value": 31.0, "note": "survey" }),
    )
    .await
    .ok();
    let key = app
        .post(
            "/api/v1/api-keys",
            &org.admin.token,
            json!({ "name": "hris", "scopes": ["exports"] }),
        )
        .await;
    let raw_key = key.ok()["key"].as_str().unwrap().to_string();
    let r = app.get("/api/v1/me/data", &org.admin.token).await;
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    let doc = r.ok();
    assert_eq!(doc["ledger_entries_created"][0]["note"], "for the fair");
    // The admin's copy is theirs, not Ana's: no colleague's id, no audit details.
    assert!(doc["ledger_entries_created"][0].get("member_id").is_none());
    assert!(!r.text.contains(&ana.id.to_string()), "{}", r.text);
    assert_eq!(doc["kpis_recorded"][0]["note"], "survey");
    assert_eq!(doc["api_keys_created"][0]["name"], "hris");
    assert!(doc["api_keys_created"][0].get("key_hash").is_none());
    assert!(!r.text.contains(&raw_key));
    let actions: Vec<&str> = doc["audit_entries_by_me"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    for action in ["point_adjustment", "kpi_recorded", "api_key_created"] {
        assert!(actions.contains(&action), "{action} missing: {actions:?}");
    }
    // Ana's copy has the adjustment she received, not what the admin did.
    let mine = app.get("/api/v1/me/data", &ana.token).await;
    assert_eq!(mine.header("Cache-Control"), Some("no-store"));
    let mine = mine.ok();
    assert_eq!(mine["ledger"][0]["note"], "for the fair");
    assert!(mine["ledger"][0].get("created_by").is_none());
    assert!(mine["audit_entries_by_me"].as_array().unwrap().is_empty());
    assert!(mine["kpis_recorded"].as_array().unwrap().is_empty());
}

#[rocket::async_test]
async fn two_admins_erasing_each_other_at_once_leave_one() {
    let app = TestApp::new().await;
    for round in 0..6 {
        let org = app.seed_org(&format!("org{round}")).await;
        let eve = app.member(&org, "Eve", Role::Admin, None).await;
        let adam = &org.admin;
        let (erase_eve, erase_adam) = (
            format!("/api/v1/members/{}/erase", eve.id),
            format!("/api/v1/members/{}/erase", adam.id),
        );
        let (a, b) = tokio::join!(
            app.post_empty(&erase_eve, &adam.token),
            app.post_empty(&erase_adam, &eve.token),
        );
        let mut statuses = [a.status.code, b.status.code];
        statuses.sort();
        // The loser is refused as the last admin (409), or, if the winner committed before its
        // request was authenticated, its session is gone (401).
        assert!(
            statuses == [200, 409] || statuses == [200, 401],
            "round {round}: {statuses:?}: {} / {}",
            a.text,
            b.text
        );
        let admins = single_text(
            &app,
            "SELECT id::text AS t FROM members WHERE organisation_id = $1 AND role = 'admin' \
             AND deactivated_at IS NULL AND password_hash IS NOT NULL",
            org.id,
        )
        .await;
        assert_eq!(admins.len(), 1, "round {round}");
    }
}

#[rocket::async_test]
async fn two_admins_demoting_each_other_at_once_leave_one() {
    let app = TestApp::new().await;
    for round in 0..6 {
        let org = app.seed_org(&format!("org{round}")).await;
        let eve = app.member(&org, "Eve", Role::Admin, None).await;
        let adam = &org.admin;
        let (demote_eve, demote_adam) = (
            format!("/api/v1/members/{}/role", eve.id),
            format!("/api/v1/members/{}/role", adam.id),
        );
        let (a, b) = tokio::join!(
            app.put(&demote_eve, &adam.token, json!({ "role": "employee" })),
            app.put(&demote_adam, &eve.token, json!({ "role": "employee" })),
        );
        let mut statuses = [a.status.code, b.status.code];
        statuses.sort();
        // No deadlock (503): both lock the admins in the same order. The loser is refused
        // (409), or is no longer an admin by the time its guard runs (403).
        assert!(
            statuses == [200, 409] || statuses == [200, 403] || statuses == [204, 409],
            "round {round}: {statuses:?}: {} / {}",
            a.text,
            b.text
        );
    }
}

#[rocket::async_test]
async fn concurrent_exports_of_one_organisation_never_exceed_its_slots() {
    let app = TestApp::with(export_limits).await;
    let acme = app.seed_org("acme").await;
    let second_process =
        Client::tracked(frontline::rocket(export_limits(figment_for(&app.db))).unwrap())
            .await
            .unwrap();
    // Eight at once, split over two processes; all are held open until counted.
    let held = rocket::futures::future::join_all((0..8).map(|i| {
        let client = if i % 2 == 0 {
            &app.client
        } else {
            &second_process
        };
        open_export(client, &acme.admin.token, "")
    }))
    .await;
    let statuses: Vec<u16> = held.iter().map(|r| r.status().code).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        6,
        "{statuses:?}"
    );
}
