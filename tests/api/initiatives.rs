//! Initiatives ("wins"): the loop from logging a win to measuring its effect, with its
//! timeline and points; the mandate; who may do what; lists, filters and pagination;
//! comments; validation; idempotency; concurrent approvals; tenant isolation.

use std::collections::HashSet;

use chrono::{DateTime, Days, Utc};
use diesel_async::RunQueryDsl;
use frontline::auth::Role;
use rocket::http::{ContentType, Header, Method, Status};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::*;

const INITIATIVES: &str = "/api/v1/initiatives";

fn path(id: impl std::fmt::Display) -> String {
    format!("{INITIATIVES}/{id}")
}

fn action(id: impl std::fmt::Display, verb: &str) -> String {
    format!("{INITIATIVES}/{id}/{verb}")
}

/// An organisation with two teams.
/// Support: Lea (lead), Leo (lead), Emma and Eric (employees). Sales: Lars (lead), Pia.
/// Hanna is HR without a team; the admin has no team either.
struct World {
    org: Org,
    support: Uuid,
    sales: Uuid,
    lea: Actor,
    leo: Actor,
    emma: Actor,
    eric: Actor,
    lars: Actor,
    pia: Actor,
    hanna: Actor,
}

async fn world(app: &TestApp, slug: &str) -> World {
    let org = app.seed_org(slug).await;
    // These tests count the points initiatives grant; badges (which may add their own) have
    // tests of their own, so the default badge set is switched off here.
    without_badges(app, &org).await;
    let support = app.team(&org, "Support").await;
    let sales = app.team(&org, "Sales").await;
    World {
        lea: app
            .member(&org, "Lea Lead", Role::TeamLead, Some(support))
            .await,
        leo: app
            .member(&org, "Leo Lead", Role::TeamLead, Some(support))
            .await,
        emma: app
            .member(&org, "Emma Employee", Role::Employee, Some(support))
            .await,
        eric: app
            .member(&org, "Eric Employee", Role::Employee, Some(support))
            .await,
        lars: app
            .member(&org, "Lars Lead", Role::TeamLead, Some(sales))
            .await,
        pia: app
            .member(&org, "Pia Peer", Role::Employee, Some(sales))
            .await,
        hanna: app.member(&org, "Hanna HR", Role::Hr, None).await,
        org,
        support,
        sales,
    }
}

/// A valid win: priority (4 + 3) * 5 * 2 = 70.
fn win(title: &str) -> Value {
    json!({
        "title": title,
        "description": "Called the customer back the same day\nand fixed the billing error.",
        "dimension": "empathy",
        "channel": "phone",
        "journey_stage": "after",
        "customer_value": 4,
        "organisation_value": 3,
        "ease": 5,
    })
}

fn with(mut body: Value, extra: Value) -> Value {
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    body
}

async fn create(app: &TestApp, actor: &Actor, body: Value) -> Value {
    let r = app.post(INITIATIVES, &actor.token, body).await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    r.body
}

async fn detail(app: &TestApp, actor: &Actor, id: Uuid) -> Value {
    app.get(&path(id), &actor.token).await.ok().clone()
}

/// The caller's balance and ledger entries (all of them).
async fn points(app: &TestApp, actor: &Actor) -> (i64, Vec<Value>) {
    let r = app.get("/api/v1/me/points?limit=200", &actor.token).await;
    let body = r.ok();
    let entries = body["entries"].as_array().unwrap().clone();
    let balance = body["balance"].as_i64().unwrap();
    let sum: i64 = entries.iter().map(|e| e["points"].as_i64().unwrap()).sum();
    assert_eq!(balance, sum, "the balance is the sum of the entries");
    (balance, entries)
}

fn reasons(entries: &[Value]) -> Vec<String> {
    let mut r: Vec<String> = entries
        .iter()
        .map(|e| e["reason"].as_str().unwrap().to_string())
        .collect();
    r.sort();
    r
}

fn ids(page: &Value) -> Vec<Uuid> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect()
}

fn auth(token: &str) -> Header<'static> {
    Header::new("Authorization", format!("Bearer {token}"))
}

async fn post_keyed(app: &TestApp, path: &str, token: &str, key: &str, body: &Value) -> Resp {
    let r = app
        .client
        .post(path.to_string())
        .header(auth(token))
        .header(Header::new("Idempotency-Key", key.to_string()))
        .header(ContentType::JSON)
        .body(body.to_string())
        .dispatch()
        .await;
    read(r).await
}

fn measurement() -> Value {
    json!({
        "kpi": "CSAT",
        "unit": "%",
        "baseline": 71.5,
        "result": 78.0,
        "measured_at": "2026-01-15T10:00:00Z",
        "note": "four weeks after the change",
    })
}

#[track_caller]
fn conflict_with(r: &Resp, status: &str) {
    let body = r.problem(409);
    assert_eq!(body["current_status"], status, "{}", r.text);
}

// --- the loop ---------------------------------------------------------------------------------

#[rocket::async_test]
async fn a_win_goes_from_submitted_to_measured_with_a_timeline_and_points() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;

    // Emma logs a win with Pia (another team) as contributor.
    let created = create(
        &app,
        &w.emma,
        with(
            win("Same-day callback"),
            json!({ "contributors": [w.pia.id], "customer_reference": "TICKET-4711" }),
        ),
    )
    .await;
    let id = id_of(&created);
    assert_eq!(created["status"], "submitted");
    assert_eq!(created["priority"], 70);
    assert_eq!(created["author"]["id"], w.emma.id.to_string());
    assert_eq!(created["author"]["display_name"], "Emma Employee");
    assert_eq!(created["team_id"], w.support.to_string());
    assert_eq!(created["dimension"], "empathy");
    assert_eq!(created["channel"], "phone");
    assert_eq!(created["journey_stage"], "after");
    assert_eq!(created["customer_reference"], "TICKET-4711");
    assert!(created["outcome"].is_null());
    assert!(
        created["description"]
            .as_str()
            .unwrap()
            .contains("\nand fixed")
    );

    // Lea, lead of Support, approves.
    let r = app
        .post(
            &action(id, "approve"),
            &w.lea.token,
            json!({ "note": "great catch" }),
        )
        .await;
    assert_eq!(r.ok()["status"], "approved");
    // Leo, the other lead, implements it (the author may not without the mandate: trust_wins).
    let r = app
        .post(
            &action(id, "implement"),
            &w.leo.token,
            json!({ "note": "rolled out to the whole team" }),
        )
        .await;
    assert_eq!(r.ok()["status"], "implemented");
    // Lea measures it.
    let r = app
        .post(&action(id, "measure"), &w.lea.token, measurement())
        .await;
    let measured = r.ok();
    assert_eq!(measured["status"], "measured");
    assert_eq!(measured["outcome"]["kpi"], "CSAT");
    assert_eq!(measured["outcome"]["unit"], "%");
    assert_eq!(measured["outcome"]["baseline"], 71.5);
    assert_eq!(measured["outcome"]["result"], 78.0);
    assert_eq!(measured["outcome"]["change"], 6.5);
    assert_eq!(measured["outcome"]["measured_at"], "2026-01-15T10:00:00Z");

    // Anyone in the organisation sees the timeline, oldest first.
    let d = detail(&app, &w.pia, id).await;
    assert_eq!(d["status"], "measured");
    assert_eq!(d["comment_count"], 0);
    assert_eq!(d["contributors"][0]["id"], w.pia.id.to_string());
    assert_eq!(d["contributors"][0]["display_name"], "Pia Peer");
    let timeline = d["timeline"].as_array().unwrap();
    let expected = [
        ("submitted", &w.emma, Value::Null, "submitted", Value::Null),
        (
            "approved",
            &w.lea,
            json!("submitted"),
            "approved",
            json!("great catch"),
        ),
        (
            "implemented",
            &w.leo,
            json!("approved"),
            "implemented",
            json!("rolled out to the whole team"),
        ),
        (
            "measured",
            &w.lea,
            json!("implemented"),
            "measured",
            json!("four weeks after the change"),
        ),
    ];
    assert_eq!(timeline.len(), expected.len(), "{timeline:?}");
    for (event, (kind, actor, from, to, note)) in timeline.iter().zip(expected) {
        assert_eq!(event["kind"], kind);
        assert_eq!(event["actor"]["id"], actor.id.to_string());
        assert!(event["actor"]["display_name"].is_string());
        assert_eq!(event["from_status"], from, "{kind}");
        assert_eq!(event["to_status"], to, "{kind}");
        assert_eq!(event["note"], note, "{kind}");
        assert!(event["created_at"].is_string());
    }

    // Points at default rules: the author 5 + 10 + 20 + 30, the contributor 5 at each of the
    // three stages after submission. Every entry names the initiative and its dimension.
    let (balance, entries) = points(&app, &w.emma).await;
    assert_eq!(balance, 65);
    assert_eq!(
        reasons(&entries),
        [
            "initiative_approved",
            "initiative_implemented",
            "initiative_measured",
            "initiative_submitted"
        ]
    );
    let (balance, contributor_entries) = points(&app, &w.pia).await;
    assert_eq!(balance, 15);
    assert_eq!(
        reasons(&contributor_entries),
        ["initiative_contribution"; 3]
    );
    for e in entries.iter().chain(&contributor_entries) {
        assert_eq!(e["source_type"], "initiative");
        assert_eq!(e["source_id"], id.to_string());
        assert_eq!(e["dimension"], "empathy");
    }
    // The lead who approved earned nothing for it.
    assert_eq!(points(&app, &w.lea).await.0, 0);
}

#[rocket::async_test]
async fn with_the_mandate_on_a_win_is_approved_on_submission() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    app.patch(
        "/api/v1/organisation",
        &w.org.admin.token,
        json!({ "mandate": true }),
    )
    .await
    .ok();

    let created = create(
        &app,
        &w.emma,
        with(
            win("Refund on the spot"),
            json!({ "contributors": [w.pia.id, w.eric.id] }),
        ),
    )
    .await;
    let id = id_of(&created);
    assert_eq!(created["status"], "approved");

    let d = detail(&app, &w.emma, id).await;
    let timeline = d["timeline"].as_array().unwrap();
    assert_eq!(timeline.len(), 2, "{timeline:?}");
    assert_eq!(timeline[0]["kind"], "submitted");
    assert_eq!(timeline[0]["to_status"], "submitted");
    assert_eq!(timeline[1]["kind"], "approved");
    assert_eq!(timeline[1]["from_status"], "submitted");
    assert_eq!(timeline[1]["to_status"], "approved");
    assert_eq!(timeline[1]["note"], "approved on submission (mandate)");

    let (balance, entries) = points(&app, &w.emma).await;
    assert_eq!(balance, 15);
    assert_eq!(
        reasons(&entries),
        ["initiative_approved", "initiative_submitted"]
    );
    for contributor in [&w.pia, &w.eric] {
        let (balance, entries) = points(&app, contributor).await;
        assert_eq!(balance, 5);
        assert_eq!(reasons(&entries), ["initiative_contribution"]);
    }

    // Approving again is an illegal transition; implementing goes on as usual.
    conflict_with(
        &app.post(&action(id, "approve"), &w.lea.token, json!({}))
            .await,
        "approved",
    );
    app.post(&action(id, "implement"), &w.emma.token, json!({}))
        .await
        .ok();
}

#[rocket::async_test]
async fn point_rules_are_organisation_settings() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    app.patch(
        "/api/v1/organisation/point-rules",
        &w.org.admin.token,
        json!({ "initiative_submitted": 2, "initiative_approved": 0, "contributor": 7 }),
    )
    .await
    .ok();
    let id = id_of(
        &create(
            &app,
            &w.emma,
            with(win("Rules"), json!({ "contributors": [w.pia.id] })),
        )
        .await,
    );
    app.post(&action(id, "approve"), &w.lea.token, json!({}))
        .await
        .ok();
    // A rule of 0 grants nothing (no zero entries).
    let (balance, entries) = points(&app, &w.emma).await;
    assert_eq!(balance, 2);
    assert_eq!(reasons(&entries), ["initiative_submitted"]);
    assert_eq!(points(&app, &w.pia).await.0, 7);
}

#[rocket::async_test]
async fn declining_needs_a_reason_and_grants_no_points() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    let id = id_of(
        &create(
            &app,
            &w.emma,
            with(win("Free coffee"), json!({ "contributors": [w.pia.id] })),
        )
        .await,
    );

    app.post(&action(id, "decline"), &w.lea.token, json!({}))
        .await
        .invalid_field("reason");
    app.post(
        &action(id, "decline"),
        &w.lea.token,
        json!({ "reason": "  " }),
    )
    .await
    .invalid_field("reason");
    let r = app
        .post(
            &action(id, "decline"),
            &w.lea.token,
            json!({ "reason": "we already do this" }),
        )
        .await;
    assert_eq!(r.ok()["status"], "declined");

    let d = detail(&app, &w.emma, id).await;
    let last = d["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "declined");
    assert_eq!(last["actor"]["id"], w.lea.id.to_string());
    assert_eq!(last["from_status"], "submitted");
    assert_eq!(last["to_status"], "declined");
    assert_eq!(last["note"], "we already do this");

    // Nothing earned: a new organisation pays submission points on approval (issue #12; the
    // old rule, paid at submission and kept, is in trust_wins). Nor the contributor.
    let (balance, entries) = points(&app, &w.emma).await;
    assert_eq!(balance, 0);
    assert!(entries.is_empty());
    assert_eq!(points(&app, &w.pia).await.0, 0);

    // Declined is final.
    for verb in ["approve", "implement"] {
        conflict_with(
            &app.post(&action(id, verb), &w.org.admin.token, json!({}))
                .await,
            "declined",
        );
    }
    conflict_with(
        &app.post(
            &action(id, "decline"),
            &w.lea.token,
            json!({ "reason": "again" }),
        )
        .await,
        "declined",
    );
}

#[rocket::async_test]
async fn illegal_transitions_answer_409_with_the_current_status() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    let submitted = id_of(&create(&app, &w.emma, win("Still submitted")).await);
    let approved = id_of(&create(&app, &w.emma, win("Approved one")).await);
    app.post(&action(approved, "approve"), &w.lea.token, json!({}))
        .await
        .ok();

    // Approve twice.
    conflict_with(
        &app.post(&action(approved, "approve"), &w.lea.token, json!({}))
            .await,
        "approved",
    );
    // Implement a submitted one (a lead: the author may not mark her own, see trust_wins).
    conflict_with(
        &app.post(&action(submitted, "implement"), &w.lea.token, json!({}))
            .await,
        "submitted",
    );
    // Measure an approved one (and a submitted one).
    conflict_with(
        &app.post(&action(approved, "measure"), &w.lea.token, measurement())
            .await,
        "approved",
    );
    conflict_with(
        &app.post(&action(submitted, "measure"), &w.lea.token, measurement())
            .await,
        "submitted",
    );
    // Decline an approved one.
    conflict_with(
        &app.post(
            &action(approved, "decline"),
            &w.lea.token,
            json!({ "reason": "changed my mind" }),
        )
        .await,
        "approved",
    );
    // Edit after approval: history is not rewritten.
    conflict_with(
        &app.patch(
            &path(approved),
            &w.emma.token,
            json!({ "title": "Rewritten" }),
        )
        .await,
        "approved",
    );
    // Nothing of the refused requests reached the ledger or the timeline (submission points
    // are paid on approval, so only for the approved one).
    let (_, entries) = points(&app, &w.emma).await;
    assert_eq!(
        reasons(&entries),
        ["initiative_approved", "initiative_submitted"]
    );
    let d = detail(&app, &w.emma, approved).await;
    assert_eq!(d["timeline"].as_array().unwrap().len(), 2);
    assert_eq!(d["title"], "Approved one");
}

// --- editing --------------------------------------------------------------------------------

#[rocket::async_test]
async fn the_author_edits_while_submitted_and_the_timeline_says_so() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    // The submitted entry is written at submission, before the edit.
    pay_on_submission(&app, &w.org).await;
    let created = create(
        &app,
        &w.emma,
        with(
            win("Draft"),
            json!({ "contributors": [w.pia.id], "customer_reference": "CASE-1" }),
        ),
    )
    .await;
    let id = id_of(&created);

    let r = app
        .patch(
            &path(id),
            &w.emma.token,
            json!({
                "title": "  Callback within the hour  ",
                "ease": 2,
                "dimension": "time_and_effort",
                "customer_reference": null,
                "contributors": [w.eric.id],
            }),
        )
        .await;
    let edited = r.ok();
    assert_eq!(edited["title"], "Callback within the hour");
    assert_eq!(edited["ease"], 2);
    assert_eq!(edited["priority"], 28);
    assert_eq!(edited["dimension"], "time_and_effort");
    assert!(edited["customer_reference"].is_null());
    assert_eq!(edited["status"], "submitted");
    assert_eq!(
        edited["channel"], "phone",
        "absent fields are left as they are"
    );

    let d = detail(&app, &w.emma, id).await;
    let contributors: Vec<&str> = d["contributors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(contributors, [w.eric.id.to_string()]);
    let timeline = d["timeline"].as_array().unwrap();
    assert_eq!(timeline.len(), 2);
    let event = &timeline[1];
    assert_eq!(event["kind"], "edited");
    assert_eq!(event["actor"]["id"], w.emma.id.to_string());
    assert_eq!(event["from_status"], "submitted");
    assert_eq!(event["to_status"], "submitted");
    let note = event["note"].as_str().unwrap();
    for field in [
        "title",
        "dimension",
        "ease",
        "customer_reference",
        "contributors",
    ] {
        assert!(note.contains(field), "{note}");
    }

    // Nobody else edits: not a lead, not an admin, not a contributor.
    for other in [&w.lea, &w.org.admin, &w.eric] {
        app.patch(&path(id), &other.token, json!({ "title": "Mine now" }))
            .await
            .problem(403);
    }
    // An empty edit, and invalid values, are refused with the fields named.
    app.patch(&path(id), &w.emma.token, json!({}))
        .await
        .invalid_field("body");
    let r = app
        .patch(
            &path(id),
            &w.emma.token,
            json!({ "title": "", "ease": 6, "channel": "pigeon", "contributors": [w.emma.id] }),
        )
        .await;
    for field in ["title", "ease", "channel", "contributors[0]"] {
        r.invalid_field(field);
    }
    app.patch(&path(id), &w.emma.token, json!({ "status": "approved" }))
        .await
        .invalid_field("status");
    // Approval points go to the contributor as edited.
    app.post(&action(id, "approve"), &w.lea.token, json!({}))
        .await
        .ok();
    assert_eq!(points(&app, &w.eric).await.0, 5);
    assert_eq!(points(&app, &w.pia).await.0, 0);
    // The submitted entry keeps the dimension it was granted with; approval has the new one.
    let (_, entries) = points(&app, &w.emma).await;
    for e in entries {
        let expected = if e["reason"] == "initiative_submitted" {
            "empathy"
        } else {
            "time_and_effort"
        };
        assert_eq!(e["dimension"], expected);
    }
}

// --- who may do what ------------------------------------------------------------------------

#[rocket::async_test]
async fn only_a_lead_of_its_team_or_an_admin_approves_and_never_their_own() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    let id = id_of(&create(&app, &w.emma, win("Emma's")).await);

    // A lead of another team, an employee (even the author), a colleague, HR: 403.
    for other in [&w.lars, &w.emma, &w.eric, &w.hanna] {
        app.post(&action(id, "approve"), &other.token, json!({}))
            .await
            .problem(403);
        app.post(
            &action(id, "decline"),
            &other.token,
            json!({ "reason": "no" }),
        )
        .await
        .problem(403);
    }
    // A lead approving their own initiative: 403, even as a lead of its team.
    let leas = id_of(&create(&app, &w.lea, win("Lea's own")).await);
    app.post(
        &action(leas, "approve"),
        &w.lea.token,
        json!({ "note": "me!" }),
    )
    .await
    .problem(403);
    app.post(
        &action(leas, "decline"),
        &w.lea.token,
        json!({ "reason": "no" }),
    )
    .await
    .problem(403);
    // Another lead of the same team may.
    let r = app
        .post(&action(leas, "approve"), &w.leo.token, json!({}))
        .await;
    assert_eq!(r.ok()["status"], "approved");
    // An admin may approve anyone's; their own too here, being the only admin (nobody else
    // could: see trust_wins).
    let r = app
        .post(&action(id, "approve"), &w.org.admin.token, json!({}))
        .await;
    assert_eq!(r.ok()["status"], "approved");
    let admins = id_of(&create(&app, &w.org.admin, win("Admin's own")).await);
    app.post(&action(admins, "approve"), &w.org.admin.token, json!({}))
        .await
        .ok();

    // Approval by a lead of another team is refused even after a move: the initiative belongs
    // to the team it was submitted from.
    let r = app
        .post(
            &format!("/api/v1/members/{}/move", w.lars.id),
            &w.org.admin.token,
            json!({ "team_id": w.support }),
        )
        .await;
    r.ok();
    let by_pia = id_of(&create(&app, &w.pia, win("Pia's")).await);
    app.post(&action(by_pia, "approve"), &w.lars.token, json!({}))
        .await
        .problem(403);
}

#[rocket::async_test]
async fn a_lead_of_its_team_or_an_admin_implements_and_measures() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    let id = id_of(
        &create(
            &app,
            &w.emma,
            with(win("Emma's"), json!({ "contributors": [w.pia.id] })),
        )
        .await,
    );
    app.post(&action(id, "approve"), &w.lea.token, json!({}))
        .await
        .ok();
    // A contributor, a colleague, another team's lead and HR may not.
    for other in [&w.pia, &w.eric, &w.lars, &w.hanna] {
        app.post(&action(id, "implement"), &other.token, json!({}))
            .await
            .problem(403);
    }
    app.post(&action(id, "implement"), &w.leo.token, json!({}))
        .await
        .ok();
    for other in [&w.pia, &w.eric, &w.lars, &w.hanna] {
        app.post(&action(id, "measure"), &other.token, measurement())
            .await
            .problem(403);
    }
    let r = app
        .post(&action(id, "measure"), &w.org.admin.token, measurement())
        .await;
    assert_eq!(r.ok()["status"], "measured");
}

#[rocket::async_test]
async fn a_measurement_is_validated() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    let id = id_of(&create(&app, &w.emma, win("To measure")).await);
    app.post(&action(id, "approve"), &w.lea.token, json!({}))
        .await
        .ok();
    app.post(&action(id, "implement"), &w.lea.token, json!({}))
        .await
        .ok();

    let r = app
        .post(&action(id, "measure"), &w.emma.token, json!({}))
        .await;
    for field in ["kpi", "unit", "baseline", "result", "measured_at"] {
        r.invalid_field(field);
    }
    let future = (Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let r = app
        .post(
            &action(id, "measure"),
            &w.emma.token,
            json!({ "kpi": "x".repeat(101), "unit": "u".repeat(51), "baseline": 1, "result": 2, "measured_at": future }),
        )
        .await;
    for field in ["kpi", "unit", "measured_at"] {
        r.invalid_field(field);
    }
    app.post(
        &action(id, "measure"),
        &w.emma.token,
        with(measurement(), json!({ "measured_at": "last tuesday" })),
    )
    .await
    .invalid_field("measured_at");
    app.post(
        &action(id, "measure"),
        &w.emma.token,
        with(measurement(), json!({ "result": "high" })),
    )
    .await
    .invalid_field("result");
    // A unit may be empty; a negative change is an outcome too. (Measured by her lead: without
    // the mandate the author may not, see trust_wins.)
    let r = app
        .post(
            &action(id, "measure"),
            &w.lea.token,
            with(
                measurement(),
                json!({ "kpi": "NPS", "unit": "", "baseline": 40, "result": 35 }),
            ),
        )
        .await;
    let outcome = &r.ok()["outcome"];
    assert_eq!(outcome["unit"], "");
    assert_eq!(outcome["change"], -5.0);
}

// --- creation and validation ----------------------------------------------------------------

#[rocket::async_test]
async fn creating_names_every_invalid_field() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    let other = app.seed_org("globex").await;
    let outsider = app
        .member(&other, "Otto Outsider", Role::Employee, None)
        .await;

    // Everything missing: every required field is named at once.
    let r = app.post(INITIATIVES, &w.emma.token, json!({})).await;
    for field in [
        "title",
        "description",
        "dimension",
        "channel",
        "journey_stage",
        "customer_value",
        "organisation_value",
        "ease",
    ] {
        r.invalid_field(field);
    }
    // One missing field.
    let mut body = win("x");
    body.as_object_mut().unwrap().remove("journey_stage");
    app.post(INITIATIVES, &w.emma.token, body)
        .await
        .invalid_field("journey_stage");

    // Bad vocabulary and ratings out of range, together.
    let r = app
        .post(
            INITIATIVES,
            &w.emma.token,
            with(
                win("x"),
                json!({
                    "dimension": "happiness",
                    "channel": "carrier_pigeon",
                    "journey_stage": "someday",
                    "customer_value": 0,
                    "organisation_value": 6,
                    "ease": -1,
                }),
            ),
        )
        .await;
    for field in [
        "dimension",
        "channel",
        "journey_stage",
        "customer_value",
        "organisation_value",
        "ease",
    ] {
        r.invalid_field(field);
    }
    // Text lengths.
    let r = app
        .post(
            INITIATIVES,
            &w.emma.token,
            with(
                win("x"),
                json!({
                    "title": "t".repeat(201),
                    "description": "d".repeat(10_001),
                    "customer_reference": "c".repeat(501),
                }),
            ),
        )
        .await;
    for field in ["title", "description", "customer_reference"] {
        r.invalid_field(field);
    }
    app.post(
        INITIATIVES,
        &w.emma.token,
        with(win("x"), json!({ "title": "   " })),
    )
    .await
    .invalid_field("title");
    // Contributors: yourself, twice, another organisation's member, nobody, deactivated.
    let gone = app
        .member(&w.org, "Gary Gone", Role::Employee, Some(w.sales))
        .await;
    app.post_empty(
        &format!("/api/v1/members/{}/deactivate", gone.id),
        &w.org.admin.token,
    )
    .await
    .ok();
    let r = app
        .post(
            INITIATIVES,
            &w.emma.token,
            with(
                win("x"),
                json!({ "contributors": [w.pia.id, w.emma.id, w.pia.id, outsider.id, Uuid::new_v4(), gone.id] }),
            ),
        )
        .await;
    let fields: Vec<&str> = r.problem(422)["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "contributors[1]",
            "contributors[2]",
            "contributors[3]",
            "contributors[4]",
            "contributors[5]"
        ]
    );
    app.post(
        INITIATIVES,
        &w.emma.token,
        with(win("x"), json!({ "contributors": ["not-a-uuid"] })),
    )
    .await
    .invalid_field("contributors[0]");
    // Unknown fields and wrong types.
    app.post(
        INITIATIVES,
        &w.emma.token,
        with(win("x"), json!({ "status": "measured" })),
    )
    .await
    .invalid_field("status");
    app.post(
        INITIATIVES,
        &w.emma.token,
        with(win("x"), json!({ "ease": "easy" })),
    )
    .await
    .invalid_field("ease");

    // None of it created anything.
    let r = app.get(INITIATIVES, &w.emma.token).await;
    assert!(r.ok()["items"].as_array().unwrap().is_empty());
    assert_eq!(points(&app, &w.emma).await.0, 0);
}

#[rocket::async_test]
async fn a_member_without_a_team_logs_wins_that_only_admins_approve() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    let created = create(&app, &w.hanna, win("HR's idea")).await;
    assert!(created["team_id"].is_null());
    let id = id_of(&created);
    for lead in [&w.lea, &w.lars] {
        app.post(&action(id, "approve"), &lead.token, json!({}))
            .await
            .problem(403);
    }
    app.post(&action(id, "approve"), &w.org.admin.token, json!({}))
        .await
        .ok();
}

// --- idempotency and concurrency ------------------------------------------------------------

#[rocket::async_test]
async fn the_same_create_with_the_same_idempotency_key_happens_once() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    let body = with(win("Once"), json!({ "contributors": [w.pia.id] }));

    let first = post_keyed(&app, INITIATIVES, &w.emma.token, "key-1", &body).await;
    assert_eq!(first.status, Status::Created, "{}", first.text);
    assert_eq!(first.header("Idempotent-Replayed"), None);
    let second = post_keyed(&app, INITIATIVES, &w.emma.token, "key-1", &body).await;
    assert_eq!(second.status, Status::Created, "{}", second.text);
    assert_eq!(second.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(first.body, second.body);

    let list = app.get(INITIATIVES, &w.emma.token).await;
    assert_eq!(ids(list.ok()), [id_of(&first.body)]);
    // Nothing paid yet: submission points are paid on approval (once, below).
    let (balance, entries) = points(&app, &w.emma).await;
    assert_eq!(balance, 0);
    assert!(entries.is_empty());

    // The same key for another request is refused, and creates nothing.
    let other = post_keyed(&app, INITIATIVES, &w.emma.token, "key-1", &win("Another")).await;
    other.invalid_field("Idempotency-Key");
    let list = app.get(INITIATIVES, &w.emma.token).await;
    assert_eq!(ids(list.ok()).len(), 1);

    // Keys are per member: Eric's key-1 is his own.
    let erics = post_keyed(&app, INITIATIVES, &w.eric.token, "key-1", &body).await;
    assert_eq!(erics.status, Status::Created);
    assert_eq!(erics.header("Idempotent-Replayed"), None);
    assert_ne!(id_of(&erics.body), id_of(&first.body));

    // A retried approval replays its success instead of answering 409.
    let id = id_of(&first.body);
    let approve = action(id, "approve");
    let a = post_keyed(&app, &approve, &w.lea.token, "approve-1", &json!({})).await;
    assert_eq!(a.status, Status::Ok, "{}", a.text);
    let b = post_keyed(&app, &approve, &w.lea.token, "approve-1", &json!({})).await;
    assert_eq!(b.status, Status::Ok, "{}", b.text);
    assert_eq!(b.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(a.body, b.body);
    assert_eq!(points(&app, &w.emma).await.0, 15);
    assert_eq!(points(&app, &w.pia).await.0, 5);
}

#[rocket::async_test]
async fn ten_concurrent_approvals_approve_once_and_grant_points_once() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    let id = id_of(
        &create(
            &app,
            &w.emma,
            with(win("Race"), json!({ "contributors": [w.pia.id] })),
        )
        .await,
    );
    let approve = action(id, "approve");
    let requests = (0..10).map(|i| {
        // Both leads of Support and the admin race each other.
        let token = match i % 3 {
            0 => &w.lea.token,
            1 => &w.leo.token,
            _ => &w.org.admin.token,
        };
        app.client
            .post(approve.clone())
            .header(auth(token))
            .header(ContentType::JSON)
            .body("{}")
            .dispatch()
    });
    let responses = futures::future::join_all(requests).await;
    let mut ok = 0;
    let mut conflicts = 0;
    for r in responses {
        let r = read(r).await;
        match r.status.code {
            200 => ok += 1,
            409 => {
                conflict_with(&r, "approved");
                conflicts += 1;
            }
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert_eq!((ok, conflicts), (1, 9));

    let (balance, entries) = points(&app, &w.emma).await;
    assert_eq!(
        reasons(&entries),
        ["initiative_approved", "initiative_submitted"]
    );
    assert_eq!(balance, 15);
    let (balance, entries) = points(&app, &w.pia).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(balance, 5);
    let d = detail(&app, &w.emma, id).await;
    let approvals = d["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "approved")
        .count();
    assert_eq!(approvals, 1);
}

// --- lists ----------------------------------------------------------------------------------

#[rocket::async_test]
async fn lists_are_scoped_by_role() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    let emma1 = id_of(&create(&app, &w.emma, win("Emma 1")).await);
    let emma2 = id_of(&create(&app, &w.emma, win("Emma 2")).await);
    let eric1 = id_of(&create(&app, &w.eric, win("Eric 1")).await);
    let pia1 = id_of(&create(&app, &w.pia, win("Pia 1")).await);
    let hanna1 = id_of(&create(&app, &w.hanna, win("Hanna 1")).await);

    let list = |token: String, query: &'static str| {
        let app = &app;
        async move {
            let r = app.get(&format!("{INITIATIVES}?{query}"), &token).await;
            let got: HashSet<Uuid> = ids(r.ok()).into_iter().collect();
            got
        }
    };
    let set = |v: &[Uuid]| v.iter().copied().collect::<HashSet<Uuid>>();

    // Mine (the default): what I authored.
    assert_eq!(list(w.emma.token.clone(), "").await, set(&[emma1, emma2]));
    assert_eq!(
        list(w.emma.token.clone(), "scope=mine").await,
        set(&[emma1, emma2])
    );
    assert_eq!(list(w.lea.token.clone(), "").await, set(&[]));
    // A lead's team: only their own team's.
    assert_eq!(
        list(w.lea.token.clone(), "scope=team").await,
        set(&[emma1, emma2, eric1])
    );
    assert_eq!(list(w.lars.token.clone(), "scope=team").await, set(&[pia1]));
    let own = format!("scope=team&team_id={}", w.support);
    let r = app.get(&format!("{INITIATIVES}?{own}"), &w.lea.token).await;
    assert_eq!(ids(r.ok()).len(), 3);
    app.get(
        &format!("{INITIATIVES}?scope=team&team_id={}", w.sales),
        &w.lea.token,
    )
    .await
    .problem(403);
    // Employees see neither a team's nor the organisation's list; leads not the organisation's.
    for scope in ["team", "organisation"] {
        app.get(&format!("{INITIATIVES}?scope={scope}"), &w.emma.token)
            .await
            .problem(403);
    }
    app.get(&format!("{INITIATIVES}?scope=organisation"), &w.lea.token)
        .await
        .problem(403);
    // HR and admins: the whole organisation, and any team (which they must name, having none).
    let everything = set(&[emma1, emma2, eric1, pia1, hanna1]);
    assert_eq!(
        list(w.hanna.token.clone(), "scope=organisation").await,
        everything
    );
    assert_eq!(
        list(w.org.admin.token.clone(), "scope=organisation").await,
        everything
    );
    let r = app
        .get(
            &format!("{INITIATIVES}?scope=team&team_id={}", w.sales),
            &w.org.admin.token,
        )
        .await;
    assert_eq!(ids(r.ok()), [pia1]);
    app.get(&format!("{INITIATIVES}?scope=team"), &w.hanna.token)
        .await
        .invalid_field("team_id");
    // With scope=mine, author_id may only be yourself.
    app.get(
        &format!("{INITIATIVES}?author_id={}", w.eric.id),
        &w.emma.token,
    )
    .await
    .invalid_field("author_id");
}

#[rocket::async_test]
async fn lists_filter_by_every_field() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    let a = id_of(&create(&app, &w.emma, win("A")).await);
    let b = id_of(
        &create(
            &app,
            &w.emma,
            with(
                win("B"),
                json!({ "dimension": "trust", "channel": "chat", "journey_stage": "before" }),
            ),
        )
        .await,
    );
    let c = id_of(
        &create(
            &app,
            &w.pia,
            with(
                win("C"),
                json!({ "channel": "chat", "journey_stage": "during" }),
            ),
        )
        .await,
    );
    app.post(&action(b, "approve"), &w.lea.token, json!({}))
        .await
        .ok();
    app.post(
        &action(c, "decline"),
        &w.lars.token,
        json!({ "reason": "no" }),
    )
    .await
    .ok();

    let admin = &w.org.admin.token;
    let query = |q: String| {
        let app = &app;
        async move {
            let r = app
                .get(&format!("{INITIATIVES}?scope=organisation&{q}"), admin)
                .await;
            let mut got = ids(r.ok());
            got.sort();
            got
        }
    };
    let sorted = |mut v: Vec<Uuid>| {
        v.sort();
        v
    };
    assert_eq!(query("status=approved".into()).await, [b]);
    assert_eq!(query("status=declined".into()).await, [c]);
    assert_eq!(query("status=submitted".into()).await, [a]);
    assert_eq!(query("status=measured".into()).await, Vec::<Uuid>::new());
    assert_eq!(query("dimension=trust".into()).await, [b]);
    assert_eq!(query("dimension=empathy".into()).await, sorted(vec![a, c]));
    assert_eq!(query("channel=chat".into()).await, sorted(vec![b, c]));
    assert_eq!(query("journey_stage=during".into()).await, [c]);
    assert_eq!(
        query(format!("author_id={}", w.emma.id)).await,
        sorted(vec![a, b])
    );
    assert_eq!(query(format!("team_id={}", w.sales)).await, [c]);
    assert_eq!(
        query(format!("channel=chat&team_id={}", w.support)).await,
        [b]
    );
    // A lead's team list filters too.
    let r = app
        .get(
            &format!("{INITIATIVES}?scope=team&status=submitted"),
            &w.lea.token,
        )
        .await;
    assert_eq!(ids(r.ok()), [a]);

    // Timestamps: `from` inclusive, `to` exclusive, on created_at.
    let created_b = detail(&app, &w.emma, b).await["created_at"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(query(format!("from={created_b}")).await, sorted(vec![b, c]));
    assert_eq!(query(format!("to={created_b}")).await, [a]);
    // Dates are days in the organisation's time zone (Europe/Oslo). Move A to 00:30 Oslo time
    // on 11 March (23:30 UTC on the 10th): it belongs to the 11th.
    let mut conn = app.db.conn().await;
    diesel::sql_query("UPDATE initiatives SET created_at = '2026-03-10T23:30:00Z' WHERE id = $1")
        .bind::<diesel::sql_types::Uuid, _>(a)
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(query("from=2026-03-11&to=2026-03-12".into()).await, [a]);
    assert_eq!(
        query("from=2026-03-10&to=2026-03-11".into()).await,
        Vec::<Uuid>::new()
    );
    assert_eq!(
        query("from=2026-03-10T23:00:00Z&to=2026-03-11T00:00:00Z".into()).await,
        [a]
    );
    let today = Utc::now()
        .with_timezone(&chrono_tz::Europe::Oslo)
        .date_naive();
    let tomorrow = today.checked_add_days(Days::new(1)).unwrap();
    assert_eq!(
        query(format!("from=2026-03-12&to={tomorrow}")).await,
        sorted(vec![b, c])
    );
    assert_eq!(query(format!("from={tomorrow}")).await, Vec::<Uuid>::new());
}

/// Every initiative of a listing (pages of at most two), with the number of pages.
async fn initiative_pages(app: &TestApp, token: &str, query: &str) -> (Vec<Uuid>, usize) {
    let (items, pages) = all_pages(app, &format!("{INITIATIVES}?{query}"), "items", token).await;
    (items.iter().map(id_of).collect(), pages)
}

#[rocket::async_test]
async fn lists_sort_by_newest_or_priority_and_paginate_without_gaps_or_duplicates() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    // Ratings giving priorities 70, 10, 100, 70, 4, 70, 36 (ties on purpose).
    let ratings = [
        (4, 3, 5),
        (3, 2, 1),
        (5, 5, 5),
        (3, 4, 5),
        (1, 1, 1),
        (5, 2, 5),
        (4, 5, 2),
    ];
    let mut created: Vec<(Uuid, i64, String)> = Vec::new();
    for (i, (c, o, e)) in ratings.into_iter().enumerate() {
        let body = with(
            win(&format!("Win {i}")),
            json!({ "customer_value": c, "organisation_value": o, "ease": e }),
        );
        let r = create(&app, &w.emma, body).await;
        assert_eq!(r["priority"], (c + o) * e * 2);
        created.push((
            id_of(&r),
            r["priority"].as_i64().unwrap(),
            r["created_at"].as_str().unwrap().to_string(),
        ));
    }
    // Two of the ties share a creation time, so the id decides between them.
    let mut conn = app.db.conn().await;
    diesel::sql_query("UPDATE initiatives SET created_at = $1 WHERE id = $2")
        .bind::<diesel::sql_types::Timestamptz, _>(
            DateTime::parse_from_rfc3339(&created[0].2)
                .unwrap()
                .with_timezone(&Utc),
        )
        .bind::<diesel::sql_types::Uuid, _>(created[3].0)
        .execute(&mut conn)
        .await
        .unwrap();
    created[3].2 = created[0].2.clone();

    let time = |s: &str| DateTime::parse_from_rfc3339(s).unwrap();
    let mut newest = created.clone();
    newest.sort_by(|a, b| time(&b.2).cmp(&time(&a.2)).then(b.0.cmp(&a.0)));
    let mut by_priority = created.clone();
    by_priority.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then(time(&b.2).cmp(&time(&a.2)))
            .then(b.0.cmp(&a.0))
    });
    let expect = |v: &[(Uuid, i64, String)]| v.iter().map(|x| x.0).collect::<Vec<Uuid>>();

    for (query, expected) in [
        ("limit=2", expect(&newest)),
        ("limit=2&sort=newest", expect(&newest)),
        ("limit=2&sort=priority", expect(&by_priority)),
    ] {
        let (seen, pages) = initiative_pages(&app, &w.emma.token, query).await;
        assert_eq!(seen, expected, "{query}");
        assert_eq!(pages, 4, "{query}");
        let unique: HashSet<&Uuid> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "{query}: duplicates");
    }
    // The first page in full agrees.
    let r = app
        .get(&format!("{INITIATIVES}?sort=priority"), &w.emma.token)
        .await;
    let priorities: Vec<i64> = r.ok()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["priority"].as_i64().unwrap())
        .collect();
    assert_eq!(priorities, [100, 70, 70, 70, 36, 10, 4]);
    assert!(r.body["next_cursor"].is_null());

    // A cursor of one order is refused by the other.
    let r = app
        .get(&format!("{INITIATIVES}?limit=2"), &w.emma.token)
        .await;
    let newest_cursor = r.ok()["next_cursor"].as_str().unwrap().to_string();
    app.get(
        &format!("{INITIATIVES}?limit=2&sort=priority&cursor={newest_cursor}"),
        &w.emma.token,
    )
    .await
    .invalid_field("cursor");
}

#[rocket::async_test]
async fn bad_list_parameters_are_named() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    let admin = &w.org.admin.token;
    for (query, field) in [
        ("scope=everyone", "scope"),
        ("sort=oldest", "sort"),
        ("status=done", "status"),
        ("dimension=joy", "dimension"),
        ("channel=fax", "channel"),
        ("journey_stage=never", "journey_stage"),
        ("team_id=sales", "team_id"),
        ("author_id=42", "author_id"),
        ("from=yesterday", "from"),
        ("to=2026-13-01", "to"),
        ("from=2026-03-02&to=2026-03-01", "to"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=many", "limit"),
        ("cursor=garbage", "cursor"),
    ] {
        app.get(&format!("{INITIATIVES}?{query}"), admin)
            .await
            .invalid_field(field);
    }
    // Several at once.
    let r = app
        .get(&format!("{INITIATIVES}?sort=up&status=x&limit=-1"), admin)
        .await;
    for field in ["sort", "status", "limit"] {
        r.invalid_field(field);
    }
}

// --- comments -------------------------------------------------------------------------------

#[rocket::async_test]
async fn any_member_comments_and_comments_page_oldest_first() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    let id = id_of(&create(&app, &w.emma, win("Commented")).await);
    let comments = action(id, "comments");

    let mut posted = Vec::new();
    for (actor, body) in [
        (&w.lea, "Nice work; next time log the ticket number too."),
        (&w.pia, "Well done!"),
        (&w.emma, "Thanks both\nwill do."),
        (&w.hanna, "Sharing this in the newsletter."),
        (&w.org.admin, "👏"),
    ] {
        let r = app
            .post(&comments, &actor.token, json!({ "body": body }))
            .await;
        assert_eq!(r.status, Status::Created, "{}", r.text);
        assert_eq!(r.body["author"]["id"], actor.id.to_string());
        assert!(r.body["author"]["display_name"].is_string());
        assert_eq!(r.body["body"], body);
        assert!(r.body["created_at"].is_string());
        posted.push(id_of(&r.body));
    }
    let (items, pages) =
        all_pages(&app, &format!("{comments}?limit=2"), "items", &w.eric.token).await;
    let seen: Vec<Uuid> = items.iter().map(id_of).collect();
    assert_eq!(seen, posted);
    assert_eq!(pages, 3);
    assert_eq!(detail(&app, &w.eric, id).await["comment_count"], 5);

    for bad in [json!({ "body": "" }), json!({ "body": "x".repeat(5001) })] {
        app.post(&comments, &w.eric.token, bad)
            .await
            .invalid_field("body");
    }
    app.post(&comments, &w.eric.token, json!({}))
        .await
        .invalid_field("body");
    app.get(&format!("{comments}?limit=0"), &w.eric.token)
        .await
        .invalid_field("limit");
    // Comments on an unknown initiative: 404.
    let unknown = action(Uuid::new_v4(), "comments");
    app.post(&unknown, &w.eric.token, json!({ "body": "hello" }))
        .await
        .problem(404);
    app.get(&unknown, &w.eric.token).await.problem(404);
}

// --- tenant isolation -----------------------------------------------------------------------

#[rocket::async_test]
async fn another_organisations_initiative_is_not_found_on_every_route() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    let id = id_of(&create(&app, &w.emma, win("Acme's")).await);
    let other = app.seed_org("globex").await;
    let b = &other.admin.token;
    let unknown = Uuid::new_v4();

    for target in [id, unknown] {
        let requests: Vec<Resp> = vec![
            app.get(&path(target), b).await,
            app.patch(&path(target), b, json!({ "title": "Mine" }))
                .await,
            app.post(&action(target, "approve"), b, json!({})).await,
            app.post(&action(target, "decline"), b, json!({ "reason": "no" }))
                .await,
            app.post(&action(target, "implement"), b, json!({})).await,
            app.post(&action(target, "measure"), b, measurement()).await,
            app.post(&action(target, "comments"), b, json!({ "body": "hi" }))
                .await,
            app.get(&action(target, "comments"), b).await,
        ];
        for r in requests {
            let body = r.problem(404);
            assert!(
                !r.text.contains("Acme's"),
                "nothing of the initiative leaks: {}",
                r.text
            );
            assert!(body["detail"].is_string());
        }
    }
    // Malformed ids are simply not found.
    app.get(&path("not-an-id"), b).await.problem(404);
    app.post(&action("not-an-id", "approve"), b, json!({}))
        .await
        .problem(404);
    // And org B's lists never show it.
    let r = app
        .get(&format!("{INITIATIVES}?scope=organisation"), b)
        .await;
    assert!(r.ok()["items"].as_array().unwrap().is_empty());
    // Nothing changed in org A.
    let d = detail(&app, &w.emma, id).await;
    assert_eq!(d["status"], "submitted");
    assert_eq!(d["comment_count"], 0);
    assert_eq!(d["timeline"].as_array().unwrap().len(), 1);
}

#[rocket::async_test]
async fn every_initiative_route_needs_a_token() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    let id = id_of(&create(&app, &w.emma, win("Private")).await);
    let routes = [
        (Method::Post, INITIATIVES.to_string()),
        (Method::Get, INITIATIVES.to_string()),
        (Method::Get, path(id)),
        (Method::Patch, path(id)),
        (Method::Post, action(id, "approve")),
        (Method::Post, action(id, "decline")),
        (Method::Post, action(id, "implement")),
        (Method::Post, action(id, "measure")),
        (Method::Post, action(id, "comments")),
        (Method::Get, action(id, "comments")),
    ];
    for (method, url) in routes {
        let body = (method != Method::Get).then(|| json!({}));
        let r = app.request(method, &url, None, body).await;
        r.problem(401);
        assert!(!r.text.contains("Private"));
    }
}
