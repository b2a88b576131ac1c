//! Issue #12, items 3 and 4: points people can trust.
//! Self-farming wins: the daily cap on self-paid points (race-proof), who may decide on a win
//! (never someone involved in it, unless an admin is the only one who could), submission points
//! paid on approval and taken back on decline. Reversing a recognition refunds its giver.

use frontline::auth::Role;
use rocket::http::{ContentType, Header, Status};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::*;

const INITIATIVES: &str = "/api/v1/initiatives";

fn action(id: Uuid, verb: &str) -> String {
    format!("{INITIATIVES}/{id}/{verb}")
}

fn auth(token: &str) -> Header<'static> {
    Header::new("Authorization", format!("Bearer {token}"))
}

/// Support: Lea and Leo (leads), Emma and Eric. Sales: Pia.
struct World {
    org: Org,
    lea: Actor,
    leo: Actor,
    emma: Actor,
    eric: Actor,
    pia: Actor,
}

async fn world(app: &TestApp, slug: &str) -> World {
    let org = app.seed_org(slug).await;
    // Badges add points of their own; these tests count the points of wins alone.
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
        pia: app
            .member(&org, "Pia Peer", Role::Employee, Some(sales))
            .await,
        org,
    }
}

fn with_contributors(mut body: Value, contributors: &[Uuid]) -> Value {
    body["contributors"] = json!(contributors);
    body
}

fn measurement() -> Value {
    json!({
        "kpi": "CSAT",
        "unit": "%",
        "baseline": 71.5,
        "result": 78.0,
        "measured_at": "2026-01-15T10:00:00Z",
    })
}

async fn rules(app: &TestApp, w: &World, body: Value) {
    let r = app
        .patch("/api/v1/organisation/point-rules", &w.org.admin.token, body)
        .await;
    assert_eq!(r.status, Status::Ok, "{}", r.text);
}

async fn mandate(app: &TestApp, w: &World, on: bool) {
    let r = app
        .patch(
            "/api/v1/organisation",
            &w.org.admin.token,
            json!({ "mandate": on }),
        )
        .await;
    assert_eq!(r.status, Status::Ok, "{}", r.text);
}

async fn submit(app: &TestApp, actor: &Actor, body: Value) -> Uuid {
    let r = app.post(INITIATIVES, &actor.token, body).await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    id_of(&r.body)
}

async fn act(app: &TestApp, actor: &Actor, id: Uuid, verb: &str, body: Value) -> Resp {
    app.post(&action(id, verb), &actor.token, body).await
}

#[track_caller]
fn ok(r: &Resp) {
    assert_eq!(r.status, Status::Ok, "{}", r.text);
}

/// The member's ledger (all of it) and balance, which is its sum.
async fn ledger(app: &TestApp, actor: &Actor) -> (i64, Vec<Value>) {
    let body = app
        .get("/api/v1/me/points?limit=200", &actor.token)
        .await
        .ok()
        .clone();
    let entries = body["entries"].as_array().unwrap().clone();
    let balance = body["balance"].as_i64().unwrap();
    let sum: i64 = entries.iter().map(|e| e["points"].as_i64().unwrap()).sum();
    assert_eq!(balance, sum);
    (balance, entries)
}

fn of_reason<'a>(entries: &'a [Value], reason: &str) -> Vec<&'a Value> {
    entries.iter().filter(|e| e["reason"] == reason).collect()
}

fn points_of(entries: &[&Value]) -> Vec<i64> {
    let mut p: Vec<i64> = entries
        .iter()
        .map(|e| e["points"].as_i64().unwrap())
        .collect();
    p.sort();
    p
}

async fn timeline(app: &TestApp, actor: &Actor, id: Uuid) -> Vec<Value> {
    app.get(&format!("{INITIATIVES}/{id}"), &actor.token)
        .await
        .ok()["timeline"]
        .as_array()
        .unwrap()
        .clone()
}

// --- the daily cap -----------------------------------------------------------------------------

#[rocket::async_test]
async fn submission_points_are_paid_up_to_the_daily_cap_and_the_rest_is_said_not_paid() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    rules(
        &app,
        &w,
        json!({ "submission_points_on_approval": false, "initiative_submitted": 4, "submission_points_daily_cap": 10 }),
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(submit(&app, &w.emma, win(&format!("Win {i}"))).await);
    }
    let (balance, entries) = ledger(&app, &w.emma).await;
    assert_eq!(balance, 10, "4 + 4 + 2, then nothing: the cap is 10");
    let submitted = of_reason(&entries, "initiative_submitted");
    assert_eq!(points_of(&submitted), [2, 4, 4]);
    let short = submitted.iter().find(|e| e["points"] == 2).unwrap();
    assert_eq!(
        short["note"],
        "daily cap of 10 points from own wins reached: 2 of 4 paid"
    );
    // The win that earned nothing says so on its timeline; the first did not need to.
    let last = timeline(&app, &w.emma, ids[3]).await;
    assert_eq!(
        last[0]["note"],
        "not paid (daily cap of 10 points from own wins reached): 4 of the author's points"
    );
    assert!(timeline(&app, &w.emma, ids[0]).await[0]["note"].is_null());
    // The cap is per member: Eric still earns his.
    submit(&app, &w.eric, win("Eric's")).await;
    assert_eq!(ledger(&app, &w.eric).await.0, 4);
    // A lead approving pays the approval points in full: the lead decided, not the author.
    ok(&act(&app, &w.lea, ids[3], "approve", json!({})).await);
    assert_eq!(ledger(&app, &w.emma).await.0, 20);
}

#[rocket::async_test]
async fn concurrent_submissions_by_one_member_never_pay_more_than_the_cap() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    // Paid on submission (5 each) with a cap of 15: three submissions' worth.
    rules(&app, &w, json!({ "submission_points_on_approval": false })).await;
    let body = win("Scripted").to_string();
    let requests = (0..12).map(|_| {
        app.client
            .post(INITIATIVES)
            .header(auth(&w.emma.token))
            .header(ContentType::JSON)
            .body(body.clone())
            .dispatch()
    });
    let responses = futures::future::join_all(requests).await;
    for r in responses {
        let r = read(r).await;
        assert_eq!(r.status, Status::Created, "{}", r.text);
    }
    let (balance, entries) = ledger(&app, &w.emma).await;
    assert_eq!(balance, 15, "{entries:?}");
    assert_eq!(
        points_of(&of_reason(&entries, "initiative_submitted")),
        [5, 5, 5]
    );
    // And the board agrees with the ledger.
    let board = app
        .get("/api/v1/leaderboards/members?period=all", &w.emma.token)
        .await;
    assert_eq!(board.ok()["me"]["points"], 15, "{}", board.text);
}

#[rocket::async_test]
async fn with_the_mandate_a_submission_and_the_authors_own_marking_are_capped() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    mandate(&app, &w, true).await;
    // submitted 5 + approved 10 on submission, implemented 20, measured 30; cap 40.
    rules(&app, &w, json!({ "submission_points_daily_cap": 40 })).await;
    let id = submit(&app, &w.emma, win("Trusted")).await;
    assert_eq!(ledger(&app, &w.emma).await.0, 15);
    // With the mandate the author marks it implemented herself: 20 more (35).
    ok(&act(&app, &w.emma, id, "implement", json!({})).await);
    assert_eq!(ledger(&app, &w.emma).await.0, 35);
    // ...and measured: only 5 of the 30 fit under the cap.
    ok(&act(&app, &w.emma, id, "measure", measurement()).await);
    let (balance, entries) = ledger(&app, &w.emma).await;
    assert_eq!(balance, 40);
    let measured = of_reason(&entries, "initiative_measured");
    assert_eq!(points_of(&measured), [5]);
    assert_eq!(
        measured[0]["note"],
        "daily cap of 40 points from own wins reached: 5 of 30 paid"
    );
    let events = timeline(&app, &w.emma, id).await;
    assert_eq!(
        events.last().unwrap()["note"],
        "not paid (daily cap of 40 points from own wins reached): 25 of the author's points"
    );
}

#[rocket::async_test]
async fn with_the_mandate_contributors_points_count_against_their_own_cap() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    mandate(&app, &w, true).await;
    // A script naming Pia on every win: 5 contributor points each, capped at 15 for her.
    for i in 0..5 {
        submit(
            &app,
            &w.emma,
            with_contributors(win(&format!("Win {i}")), &[w.pia.id]),
        )
        .await;
    }
    let (balance, entries) = ledger(&app, &w.pia).await;
    assert_eq!(balance, 15);
    assert_eq!(
        points_of(&of_reason(&entries, "initiative_contribution")),
        [5, 5, 5]
    );
    assert_eq!(ledger(&app, &w.emma).await.0, 15);
}

#[rocket::async_test]
async fn racing_wins_that_name_each_other_stay_within_both_caps_without_deadlocks() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    mandate(&app, &w, true).await;
    // Emma names Pia and Pia names Emma, at once: each submission locks both members' counters,
    // in member order, so neither waits on the other in a cycle.
    let emmas = with_contributors(win("Emma's"), &[w.pia.id]).to_string();
    let pias = with_contributors(win("Pia's"), &[w.emma.id]).to_string();
    let requests = (0..12).map(|i| {
        let (token, body) = if i % 2 == 0 {
            (&w.emma.token, emmas.clone())
        } else {
            (&w.pia.token, pias.clone())
        };
        app.client
            .post(INITIATIVES)
            .header(auth(token))
            .header(ContentType::JSON)
            .body(body)
            .dispatch()
    });
    for r in futures::future::join_all(requests).await {
        let r = read(r).await;
        assert_eq!(r.status, Status::Created, "{}", r.text);
    }
    assert_eq!(ledger(&app, &w.emma).await.0, 15);
    assert_eq!(ledger(&app, &w.pia).await.0, 15);
}

// --- who decides ------------------------------------------------------------------------------

#[rocket::async_test]
async fn without_the_mandate_a_lead_or_admin_marks_a_win_implemented_and_measured_not_its_author() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    let id = submit(&app, &w.emma, win("Mine")).await;
    ok(&act(&app, &w.lea, id, "approve", json!({})).await);
    let r = act(&app, &w.emma, id, "implement", json!({})).await;
    assert!(
        r.problem(403)["detail"]
            .as_str()
            .unwrap()
            .contains("not its author"),
        "{}",
        r.text
    );
    ok(&act(&app, &w.lea, id, "implement", json!({})).await);
    r_403(&act(&app, &w.emma, id, "measure", measurement()).await);
    // Another employee of the team may not either.
    r_403(&act(&app, &w.eric, id, "measure", measurement()).await);
    ok(&act(&app, &w.org.admin, id, "measure", measurement()).await);
    // Paid in full: a lead and an admin decided.
    assert_eq!(ledger(&app, &w.emma).await.0, 5 + 10 + 20 + 30);

    // A lead's own win: another lead approves, and the author may not mark it.
    let leas = submit(&app, &w.lea, win("Lea's")).await;
    ok(&act(&app, &w.leo, leas, "approve", json!({})).await);
    r_403(&act(&app, &w.lea, leas, "implement", json!({})).await);
    ok(&act(&app, &w.leo, leas, "implement", json!({})).await);
}

#[track_caller]
fn r_403(r: &Resp) {
    r.problem(403);
}

#[rocket::async_test]
async fn a_contributor_neither_approves_declines_nor_marks_a_win() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    let id = submit(
        &app,
        &w.emma,
        with_contributors(win("With Leo"), &[w.leo.id]),
    )
    .await;
    let r = act(&app, &w.leo, id, "approve", json!({})).await;
    assert!(
        r.problem(403)["detail"]
            .as_str()
            .unwrap()
            .contains("an initiative you contributed to"),
        "{}",
        r.text
    );
    r_403(&act(&app, &w.leo, id, "decline", json!({ "reason": "no" })).await);
    ok(&act(&app, &w.lea, id, "approve", json!({})).await);
    r_403(&act(&app, &w.leo, id, "implement", json!({})).await);
    ok(&act(&app, &w.lea, id, "implement", json!({})).await);
    r_403(&act(&app, &w.leo, id, "measure", measurement()).await);
    // An admin who contributed is refused too while a lead of the team could decide.
    let other = submit(
        &app,
        &w.eric,
        with_contributors(win("With the admin"), &[w.org.admin.id]),
    )
    .await;
    r_403(&act(&app, &w.org.admin, other, "approve", json!({})).await);
    ok(&act(&app, &w.leo, other, "approve", json!({})).await);
}

#[rocket::async_test]
async fn an_admin_approves_their_own_win_only_when_nobody_else_could() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    // The admin is on no team: only another admin could approve the admin's wins.
    let id = submit(&app, &w.org.admin, win("The admin's")).await;
    ok(&act(&app, &w.org.admin, id, "approve", json!({})).await);
    // Self-paid, so capped: 5 submitted + 10 approved fits the default cap of 15.
    let (balance, _) = ledger(&app, &w.org.admin).await;
    assert_eq!(balance, 15);

    let second = app.member(&w.org, "Ada Admin", Role::Admin, None).await;
    let id = submit(&app, &w.org.admin, win("The admin's second")).await;
    let r = act(&app, &w.org.admin, id, "approve", json!({})).await;
    assert!(
        r.problem(403)["detail"]
            .as_str()
            .unwrap()
            .contains("your own initiative"),
        "{}",
        r.text
    );
    ok(&act(&app, &second, id, "approve", json!({})).await);
    // The same holds for implementing it.
    r_403(&act(&app, &w.org.admin, id, "implement", json!({})).await);
    ok(&act(&app, &second, id, "implement", json!({})).await);
}

// --- paid on approval --------------------------------------------------------------------------

#[rocket::async_test]
async fn a_new_organisation_pays_submission_points_on_approval_and_none_for_a_declined_win() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    let shown = app
        .get("/api/v1/organisation/point-rules", &w.emma.token)
        .await;
    assert_eq!(shown.ok()["submission_points_on_approval"], true);
    let approved = submit(&app, &w.emma, win("Good")).await;
    let declined = submit(&app, &w.emma, win("Not so good")).await;
    assert_eq!(ledger(&app, &w.emma).await.0, 0, "nothing for submitting");
    ok(&act(
        &app,
        &w.lea,
        declined,
        "decline",
        json!({ "reason": "duplicate" }),
    )
    .await);
    assert_eq!(ledger(&app, &w.emma).await.0, 0);
    ok(&act(&app, &w.lea, approved, "approve", json!({})).await);
    let (balance, entries) = ledger(&app, &w.emma).await;
    assert_eq!(balance, 15);
    assert_eq!(points_of(&of_reason(&entries, "initiative_submitted")), [5]);
    assert_eq!(points_of(&of_reason(&entries, "initiative_approved")), [10]);
}

#[rocket::async_test]
async fn a_declined_wins_submission_points_are_reversed_and_an_approved_ones_not_paid_twice() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    // Submitted while the organisation paid on submission...
    rules(&app, &w, json!({ "submission_points_on_approval": false })).await;
    let declined = submit(&app, &w.emma, win("To decline")).await;
    let approved = submit(&app, &w.emma, win("To approve")).await;
    let (balance, entries) = ledger(&app, &w.emma).await;
    assert_eq!(balance, 10);
    let paid = of_reason(&entries, "initiative_submitted")
        .into_iter()
        .find(|e| e["source_id"] == json!(declined))
        .unwrap()
        .clone();
    // ...then it switches to paying on approval.
    rules(&app, &w, json!({ "submission_points_on_approval": true })).await;
    ok(&act(
        &app,
        &w.lea,
        declined,
        "decline",
        json!({ "reason": "duplicate" }),
    )
    .await);
    let (balance, entries) = ledger(&app, &w.emma).await;
    assert_eq!(balance, 5);
    let reversals = of_reason(&entries, "reversal");
    assert_eq!(reversals.len(), 1);
    assert_eq!(reversals[0]["points"], -5);
    assert_eq!(reversals[0]["reverses"], paid["id"]);
    assert_eq!(reversals[0]["created_by"], json!(w.lea.id));
    // The original entry is still there, unchanged: a reversal, never an update.
    assert!(
        entries
            .iter()
            .any(|e| e["id"] == paid["id"] && e["points"] == 5)
    );
    // The other one was paid on submission: approving pays only the approval.
    ok(&act(&app, &w.lea, approved, "approve", json!({})).await);
    let (balance, entries) = ledger(&app, &w.emma).await;
    assert_eq!(balance, 15);
    assert_eq!(of_reason(&entries, "initiative_submitted").len(), 2);
    // With the setting off, declining keeps the submission points (the old rule).
    rules(&app, &w, json!({ "submission_points_on_approval": false })).await;
    let kept = submit(&app, &w.eric, win("Kept")).await;
    ok(&act(&app, &w.lea, kept, "decline", json!({ "reason": "no" })).await);
    assert_eq!(ledger(&app, &w.eric).await.0, 5);
}

// --- reversing a recognition ------------------------------------------------------------------

async fn allowance_left(app: &TestApp, actor: &Actor) -> i64 {
    app.get("/api/v1/me/points", &actor.token).await.ok()["allowance"]["remaining"]
        .as_i64()
        .unwrap()
}

async fn recognise(app: &TestApp, giver: &Actor, to: &[Uuid], points: i32) -> Uuid {
    let r = app
        .post(
            "/api/v1/recognitions",
            &giver.token,
            json!({ "recipients": to, "message": "Thank you!", "points": points }),
        )
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    id_of(&r.body)
}

/// The id of `member`'s entry for recognition `rec`.
async fn entry_of(app: &TestApp, member: &Actor, rec: Uuid) -> String {
    let (_, entries) = ledger(app, member).await;
    entries
        .iter()
        .find(|e| e["source_id"] == json!(rec) && e["reason"] == "recognition_received")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn reverse(app: &TestApp, w: &World, entry: &str) -> Resp {
    app.post(
        &format!("/api/v1/ledger/{entry}/reverse"),
        &w.org.admin.token,
        json!({ "reason": "given by mistake" }),
    )
    .await
}

#[rocket::async_test]
async fn reversing_a_recognition_gives_the_giver_their_allowance_back_once() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    // A peer: 100 a month. Pia recognises Emma and Eric, 20 each.
    let rec = recognise(&app, &w.pia, &[w.emma.id, w.eric.id], 20).await;
    assert_eq!(allowance_left(&app, &w.pia).await, 60);
    let emmas = entry_of(&app, &w.emma, rec).await;
    assert_eq!(reverse(&app, &w, &emmas).await.status, Status::Created);
    assert_eq!(allowance_left(&app, &w.pia).await, 80);
    assert_eq!(ledger(&app, &w.emma).await.0, 0);
    // Once only.
    reverse(&app, &w, &emmas).await.problem(409);
    assert_eq!(allowance_left(&app, &w.pia).await, 80);

    // Racing reversals of Eric's entry give back once.
    let erics = entry_of(&app, &w.eric, rec).await;
    let path = format!("/api/v1/ledger/{erics}/reverse");
    let body = json!({ "reason": "given by mistake" }).to_string();
    let requests = (0..8).map(|_| {
        app.client
            .post(path.clone())
            .header(auth(&w.org.admin.token))
            .header(ContentType::JSON)
            .body(body.clone())
            .dispatch()
    });
    let mut created = 0;
    for r in futures::future::join_all(requests).await {
        let r = read(r).await;
        match r.status.code {
            201 => created += 1,
            409 => {}
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(allowance_left(&app, &w.pia).await, 100);

    // A team lead's budget (500) gets its points back the same way.
    let rec = recognise(&app, &w.lea, &[w.emma.id], 50).await;
    assert_eq!(allowance_left(&app, &w.lea).await, 450);
    let entry = entry_of(&app, &w.emma, rec).await;
    assert_eq!(reverse(&app, &w, &entry).await.status, Status::Created);
    assert_eq!(allowance_left(&app, &w.lea).await, 500);

    // An admin's recognition cost nothing: reversing it gives nothing back, and works.
    let rec = recognise(&app, &w.org.admin, &[w.emma.id], 30).await;
    let entry = entry_of(&app, &w.emma, rec).await;
    assert_eq!(reverse(&app, &w, &entry).await.status, Status::Created);
}

#[rocket::async_test]
async fn a_reversed_recognition_refunds_the_month_it_was_paid_from() {
    use diesel_async::RunQueryDsl;
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    let rec = recognise(&app, &w.pia, &[w.emma.id], 40).await;
    // Make it last month's: the recognition and the allowance row it was paid from.
    let mut conn = app.db.conn().await;
    diesel::sql_query(
        "UPDATE giving_balances SET period_start = (period_start - interval '1 month')::date \
         WHERE organisation_id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(w.org.id)
    .execute(&mut conn)
    .await
    .unwrap();
    diesel::sql_query(
        "UPDATE recognitions SET giving_period_start = (giving_period_start - interval '1 month')::date \
         WHERE organisation_id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(w.org.id)
    .execute(&mut conn)
    .await
    .unwrap();
    // This month Pia spends 30.
    recognise(&app, &w.pia, &[w.eric.id], 30).await;
    assert_eq!(allowance_left(&app, &w.pia).await, 70);
    let entry = entry_of(&app, &w.emma, rec).await;
    assert_eq!(reverse(&app, &w, &entry).await.status, Status::Created);
    // This month is untouched; last month's row has the 40 back.
    assert_eq!(allowance_left(&app, &w.pia).await, 70);
    #[derive(diesel::QueryableByName)]
    struct Spent {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        spent: i32,
    }
    let rows: Vec<Spent> = diesel::sql_query(
        "SELECT spent FROM giving_balances WHERE organisation_id = $1 ORDER BY period_start",
    )
    .bind::<diesel::sql_types::Uuid, _>(w.org.id)
    .load(&mut conn)
    .await
    .unwrap();
    assert_eq!(rows.iter().map(|r| r.spent).collect::<Vec<_>>(), [0, 30]);
}

#[rocket::async_test]
async fn refusals_of_the_lifecycle_are_problem_documents() {
    let app = TestApp::new().await;
    let w = world(&app, "acme").await;
    let other = world(&app, "globex").await;
    let id = submit(&app, &w.emma, win("Ours")).await;
    // Another organisation's lead: 404, as for an unknown id.
    let theirs = act(&app, &other.lea, id, "approve", json!({})).await;
    let unknown = act(&app, &other.lea, Uuid::new_v4(), "approve", json!({})).await;
    same_problem(&theirs, &unknown);
    theirs.problem(404);
    // Anonymous: 401.
    let r = app.anon_post(&action(id, "approve"), json!({})).await;
    r.problem(401);
    // Bad input: 422 naming the field.
    let r = act(&app, &w.lea, id, "decline", json!({ "reason": "  " })).await;
    r.invalid_field("reason");
    // Already decided: 409.
    ok(&act(&app, &w.lea, id, "approve", json!({})).await);
    act(&app, &w.leo, id, "approve", json!({}))
        .await
        .problem(409);
}
