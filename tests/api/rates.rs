//! Members' budgets (`rates`): boards computed uncached, reports and comments, each so many per
//! member per window, counted in PostgreSQL. Racing requests get exactly the budget through;
//! a cached board answer is free; the budget returns when the window is over; another member's
//! budget is their own.

use std::time::Duration;

use frontline::auth::Role;
use rocket::figment::Figment;
use rocket::http::{ContentType, Header, Status};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::*;

fn set(f: Figment, key: &str, value: impl serde::Serialize) -> Figment {
    frontline::config::with_override(f, key, value)
}

/// Pin the service's clock (mid-November 2026 in Oslo), so that tests can let windows pass.
fn pin(app: &TestApp) {
    use chrono::TimeZone;
    let noon = chrono_tz::Europe::Oslo
        .with_ymd_and_hms(2026, 11, 18, 12, 0, 0)
        .unwrap();
    app.clock.set(noon.with_timezone(&chrono::Utc));
}

async fn give(app: &TestApp, who: &Actor, body: Value) -> Uuid {
    let r = app.post("/api/v1/recognitions", &who.token, body).await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    id_of(&r.body)
}

fn kudos(to: Uuid) -> Value {
    json!({ "recipients": [to], "message": "Thank you for staying late with that customer", "points": 5 })
}

/// `n` requests sent at once, as `who`, each answered whole.
async fn race(
    app: &TestApp,
    who: &Actor,
    requests: Vec<(rocket::http::Method, String, Option<Value>)>,
) -> Vec<Resp> {
    let sent = requests.into_iter().map(|(method, path, body)| {
        let mut req = app.client.req(method, path).header(Header::new(
            "Authorization",
            format!("Bearer {}", who.token),
        ));
        if let Some(body) = body {
            req = req.header(ContentType::JSON).body(body.to_string());
        }
        req.dispatch()
    });
    let mut out = Vec::new();
    for r in futures::future::join_all(sent).await {
        out.push(read(r).await);
    }
    out
}

/// A `429` problem whose `Retry-After` (and `retry_after`) is 1..=`window` seconds.
#[track_caller]
fn refused_for_at_most(r: &Resp, window: u64) -> u64 {
    let body = r.problem(429);
    let retry: u64 = r
        .header("Retry-After")
        .expect("a 429 says when to retry")
        .parse()
        .unwrap();
    assert!((1..=window).contains(&retry), "Retry-After {retry}");
    assert_eq!(body["retry_after"], retry, "{}", r.text);
    retry
}

fn statuses(rs: &[Resp]) -> (usize, usize) {
    let ok = rs.iter().filter(|r| r.status.code < 300).count();
    let refused = rs.iter().filter(|r| r.status.code == 429).count();
    assert_eq!(ok + refused, rs.len(), "only successes and 429s: {rs:?}");
    (ok, refused)
}

#[rocket::async_test]
async fn racing_reports_get_exactly_the_budget_and_refusals_cost_nothing() {
    let app = TestApp::with(|f| set(f, "reports_per_member", 5)).await;
    pin(&app);
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let cy = app.member(&org, "Cy", Role::Employee, None).await;
    let mut ids = Vec::new();
    for _ in 0..21 {
        ids.push(give(&app, &org.admin, kudos(ben.id)).await);
    }
    let report = |id: &Uuid| {
        (
            rocket::http::Method::Post,
            format!("/api/v1/recognitions/{id}/reports"),
            Some(json!({ "reason": "Not what we are here for" })),
        )
    };
    let answers = race(&app, &ana, ids[..20].iter().map(report).collect()).await;
    assert_eq!(
        statuses(&answers),
        (5, 15),
        "exactly the budget gets through"
    );
    for r in answers.iter().filter(|r| r.status.code == 429) {
        refused_for_at_most(r, 3600);
    }
    let queue = app
        .get("/api/v1/moderation/reports?limit=200", &org.admin.token)
        .await;
    assert_eq!(queue.ok()["items"].as_array().unwrap().len(), 5);

    // Refused again, whatever is reported; another member's budget is their own.
    let (_, path, body) = report(&ids[20]);
    refused_for_at_most(
        &app.post(&path, &ana.token, body.clone().unwrap()).await,
        3600,
    );
    assert_eq!(
        app.post(&path, &cy.token, body.clone().unwrap())
            .await
            .status,
        Status::Created
    );

    // The refusals spent nothing: once the window is over, the whole budget is back.
    app.clock.advance(Duration::from_secs(3600));
    let answers = race(&app, &ana, ids[5..20].iter().map(report).collect()).await;
    let created = answers
        .iter()
        .filter(|r| r.status == Status::Created)
        .count();
    let again = answers
        .iter()
        .filter(|r| r.status == Status::Conflict)
        .count();
    assert_eq!(
        (created + again, answers.len() - created - again),
        (5, 10),
        "{answers:?}"
    );
}

#[rocket::async_test]
async fn comments_on_recognitions_and_wins_share_one_budget() {
    let app = TestApp::with(|f| {
        set(
            set(f, "comments_per_member", 4),
            "comments_window_secs",
            600,
        )
    })
    .await;
    pin(&app);
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let recognition = give(&app, &org.admin, kudos(ben.id)).await;
    let r = app
        .post(
            "/api/v1/initiatives",
            &ben.token,
            win("Same-day call-backs"),
        )
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    let win_comments = format!("/api/v1/initiatives/{}/comments", id_of(&r.body));
    let comments = format!("/api/v1/recognitions/{recognition}/comments");

    let requests = (0..12)
        .map(|i| {
            (
                rocket::http::Method::Post,
                comments.clone(),
                Some(json!({ "body": format!("Well deserved ({i})") })),
            )
        })
        .collect();
    let answers = race(&app, &ana, requests).await;
    assert_eq!(
        statuses(&answers),
        (4, 8),
        "exactly the budget gets through"
    );
    let retry = refused_for_at_most(answers.iter().find(|r| r.status.code == 429).unwrap(), 600);
    let shown = app.get(&comments, &ben.token).await;
    assert_eq!(shown.ok()["items"].as_array().unwrap().len(), 4);

    // A win's comment comes from the same budget; an invalid one is refused before it spends.
    let hi = json!({ "body": "Nice one" });
    refused_for_at_most(&app.post(&win_comments, &ana.token, hi.clone()).await, 600);
    app.post(&win_comments, &ana.token, json!({ "body": "" }))
        .await
        .invalid_field("body");
    assert_eq!(
        app.post(&win_comments, &ben.token, hi.clone()).await.status,
        Status::Created,
        "another member comments as before"
    );

    // Not before the window is over; then at once.
    app.clock.advance(Duration::from_secs(retry - 1));
    refused_for_at_most(&app.post(&win_comments, &ana.token, hi.clone()).await, 1);
    app.clock.advance(Duration::from_secs(1));
    assert_eq!(
        app.post(&win_comments, &ana.token, hi.clone()).await.status,
        Status::Created
    );
    assert_eq!(
        app.post(&comments, &ana.token, hi).await.status,
        Status::Created
    );
}

/// An organisation with a company value one recognition carries, and two members.
async fn value_boards(app: &TestApp) -> (Org, Uuid, Actor, Actor) {
    pin(app);
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let r = app
        .post(
            "/api/v1/values",
            &org.admin.token,
            json!({ "name": "Customer first", "hashtag": "CustomerFirst", "description": "What we stand for" }),
        )
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    let value = id_of(&r.body);
    let mut body = kudos(ben.id);
    body["value_ids"] = json!([value]);
    give(app, &org.admin, body).await;
    (org, value, ana, ben)
}

/// Answers cached for as long as the test runs, so that no answer expires (and is recomputed
/// in the background, which a budget pays for too) while a slow machine runs it.
fn long_cache(f: Figment) -> Figment {
    set(f, "read_cache_ttl_ms", 3_600_000)
}

#[rocket::async_test]
async fn boards_computed_uncached_are_paid_for_and_cached_answers_are_free() {
    let app = TestApp::with(|f| set(long_cache(f), "uncached_boards_per_member", 3)).await;
    let (_org, value, ana, ben) = value_boards(&app).await;
    let by_value =
        |period: &str| format!("/api/v1/leaderboards/members?value_id={value}&period={period}");

    // One computation, then answers from memory.
    for _ in 0..6 {
        let board = app.get(&by_value("month"), &ana.token).await;
        assert_eq!(board.ok()["ranked_members"], 1);
    }
    // Boards read from the kept totals cost nothing, cached or not.
    for period in [
        "week", "month", "quarter", "year", "all", "2025-W01", "2024",
    ] {
        app.get(
            &format!("/api/v1/leaderboards/members?period={period}"),
            &ana.token,
        )
        .await
        .ok();
        app.get(
            &format!("/api/v1/leaderboards/teams?period={period}"),
            &ana.token,
        )
        .await
        .ok();
    }
    // Two more computations: another period, and the board ranked by distinct givers.
    app.get(&by_value("2026-10"), &ana.token).await.ok();
    app.get(
        "/api/v1/leaderboards/members?rank_by=distinct_givers",
        &ana.token,
    )
    .await
    .ok();
    // Spent: a board not in the cache is refused (the teams board by value too), a cached
    // one is still served.
    let retry = refused_for_at_most(&app.get(&by_value("2026-09"), &ana.token).await, 60);
    refused_for_at_most(
        &app.get(
            &format!("/api/v1/leaderboards/teams?value_id={value}"),
            &ana.token,
        )
        .await,
        60,
    );
    app.get(&by_value("month"), &ana.token).await.ok();
    app.get(&by_value("2026-10"), &ana.token).await.ok();
    // Ben's budget is his own.
    app.get(&by_value("2026-09"), &ben.token).await.ok();

    // Once the window is over, the budget is back.
    app.clock.advance(Duration::from_secs(retry));
    let board = app.get(&by_value("2026-09"), &ana.token).await;
    assert_eq!(board.ok()["ranked_members"], 0);
}

#[rocket::async_test]
async fn racing_uncached_boards_get_exactly_the_budget() {
    let app = TestApp::with(|f| {
        set(
            set(long_cache(f), "uncached_boards_per_member", 5),
            "uncached_boards_window_secs",
            300,
        )
    })
    .await;
    let (_org, value, ana, _ben) = value_boards(&app).await;
    // A caller walking past periods: each one a computation of its own.
    let requests = (1..=10)
        .flat_map(|month| {
            ["members", "teams"].map(|board| {
                (
                    rocket::http::Method::Get,
                    format!("/api/v1/leaderboards/{board}?value_id={value}&period=2025-{month:02}"),
                    None,
                )
            })
        })
        .collect();
    let answers = race(&app, &ana, requests).await;
    assert_eq!(
        statuses(&answers),
        (5, 15),
        "exactly the budget gets through"
    );
    for r in answers.iter().filter(|r| r.status.code == 429) {
        refused_for_at_most(r, 300);
    }
}
