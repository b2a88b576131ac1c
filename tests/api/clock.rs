//! Calendars at their turn, with the service's clock set (every test organisation is in
//! Europe/Oslo): the daily cap at 23:59 and 00:00, the allowance at the turn of a month, week
//! and month boards at theirs, and an export's default range on the 1st.

use chrono::{DateTime, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Oslo;
use diesel_async::RunQueryDsl;
use frontline::auth::Role;
use rocket::http::Status;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::*;

/// `hh:mm` local time in Oslo on `y-m-d`, as the instant it is.
fn oslo(y: i32, m: u32, d: u32, hh: u32, mm: u32) -> DateTime<Utc> {
    Oslo.with_ymd_and_hms(y, m, d, hh, mm, 0)
        .single()
        .expect("a time that exists in Oslo")
        .with_timezone(&Utc)
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a date")
}

fn recognise(to: &[Uuid], points: i32) -> Value {
    json!({ "recipients": to, "message": "Thank you for calming that customer down", "points": points })
}

async fn give(app: &TestApp, from: &Actor, to: &[Uuid], points: i32) -> Resp {
    app.post("/api/v1/recognitions", &from.token, recognise(to, points))
        .await
}

/// A recognition the test expects to be granted; its time as the service recorded it.
async fn granted(app: &TestApp, from: &Actor, to: &[Uuid], points: i32) -> DateTime<Utc> {
    let r = give(app, from, to, points).await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    serde_json::from_value(r.body["created_at"].clone()).expect("created_at is a time")
}

async fn points(app: &TestApp, who: &Actor) -> Points {
    app.get("/api/v1/me/points", &who.token).await.json()
}

async fn allowance(app: &TestApp, who: &Actor) -> Allowance {
    points(app, who).await.allowance.expect("an allowance")
}

async fn balance(app: &TestApp, who: &Actor) -> i64 {
    points(app, who).await.balance
}

async fn set_rules(app: &TestApp, org: &Org, rules: Value) {
    app.patch("/api/v1/organisation/point-rules", &org.admin.token, rules)
        .await
        .ok();
}

#[rocket::async_test]
async fn the_daily_cap_counts_23_59_on_one_day_and_00_00_on_the_next() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    set_rules(
        &app,
        &org,
        json!({ "peer_monthly_allowance": 1000, "peer_daily_cap_per_recipient": 30, "peer_monthly_cap_per_recipient": 1000 }),
    )
    .await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;

    // Wednesday 18 November, 23:59 in Oslo (22:59 UTC): Ana gives Ben the whole day's cap.
    let late = oslo(2026, 11, 18, 23, 59);
    app.clock.set(late);
    assert_eq!(granted(&app, &ana, &[ben.id], 30).await, late);
    let r = give(&app, &ana, &[ben.id], 1).await;
    r.problem(409);
    assert_eq!(r.body["given_today"], 30);
    assert_eq!(r.body["daily_cap"], 30);

    // One minute later it is Thursday in Oslo, though still Wednesday in UTC: a new day.
    let midnight = oslo(2026, 11, 19, 0, 0);
    assert_eq!(
        midnight,
        Utc.with_ymd_and_hms(2026, 11, 18, 23, 0, 0).unwrap()
    );
    app.clock.set(midnight);
    assert_eq!(granted(&app, &ana, &[ben.id], 30).await, midnight);
    let r = give(&app, &ana, &[ben.id], 1).await;
    r.problem(409);
    assert_eq!(r.body["given_today"], 30);

    assert_eq!(balance(&app, &ben).await, 60);
    let left = allowance(&app, &ana).await;
    assert_eq!((left.spent, left.remaining), (60, 940));
}

/// A win the test expects to be accepted: its time as the service recorded it.
async fn submitted(app: &TestApp, who: &Actor, title: &str) -> DateTime<Utc> {
    let r = app
        .post("/api/v1/initiatives", &who.token, win(title))
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    serde_json::from_value(r.body["created_at"].clone()).expect("created_at is a time")
}

/// Submission points a member pays themselves are capped per local day: what was paid at 23:59
/// counts for that day, and at 00:00 the cap starts again, though it is still the same day in UTC.
#[rocket::async_test]
async fn the_self_paid_daily_cap_counts_23_59_on_one_day_and_00_00_on_the_next() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    set_rules(
        &app,
        &org,
        json!({ "submission_points_on_approval": false, "initiative_submitted": 4, "submission_points_daily_cap": 10 }),
    )
    .await;
    let team = app.team(&org, "Support").await;
    let emma = app.member(&org, "Emma", Role::Employee, Some(team)).await;

    // Wednesday 18 November, 23:59 in Oslo: 4 + 4 + 2, then the day's cap of 10 is spent.
    let late = oslo(2026, 11, 18, 23, 59);
    app.clock.set(late);
    for title in ["First", "Second", "Third", "Fourth"] {
        assert_eq!(submitted(&app, &emma, title).await, late);
    }
    assert_eq!(balance(&app, &emma).await, 10);

    // 00:00 on Thursday in Oslo (23:00 UTC, still Wednesday there): a new day, a new cap.
    let midnight = oslo(2026, 11, 19, 0, 0);
    app.clock.set(midnight);
    for title in ["Fifth", "Sixth", "Seventh"] {
        assert_eq!(submitted(&app, &emma, title).await, midnight);
    }
    assert_eq!(balance(&app, &emma).await, 20);
    let entries = points(&app, &emma).await.entries;
    let paid_at = |at: DateTime<Utc>| -> i64 {
        entries
            .iter()
            .filter(|e| e.created_at == at)
            .map(|e| i64::from(e.points))
            .sum()
    };
    assert_eq!((paid_at(late), paid_at(midnight)), (10, 10));
}

#[rocket::async_test]
async fn the_allowance_starts_again_at_local_midnight_on_the_first() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    set_rules(
        &app,
        &org,
        json!({ "peer_monthly_allowance": 100, "peer_daily_cap_per_recipient": 100 }),
    )
    .await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let cy = app.member(&org, "Cy", Role::Employee, None).await;

    // 30 November, 23:59 in Oslo: November's allowance, spent to the last point.
    app.clock.set(oslo(2026, 11, 30, 23, 59));
    granted(&app, &ana, &[ben.id], 60).await;
    granted(&app, &ana, &[cy.id], 40).await;
    let december = Utc.with_ymd_and_hms(2026, 11, 30, 23, 0, 0).unwrap();
    let r = give(&app, &ana, &[ben.id], 1).await;
    r.problem(409);
    assert_eq!(r.body["remaining"], 0);
    assert_eq!(r.body["resets_at"], json!(december));
    assert_eq!(
        allowance(&app, &ana).await,
        Allowance {
            kind: "peer".into(),
            period_start: date(2026, 11, 1),
            resets_at: december,
            granted: 100,
            spent: 100,
            remaining: 0,
        }
    );

    // 1 December, 00:00 in Oslo (23:00 UTC on the 30th): December's allowance, whole.
    app.clock.set(oslo(2026, 12, 1, 0, 0));
    let january = Utc.with_ymd_and_hms(2026, 12, 31, 23, 0, 0).unwrap();
    assert_eq!(
        allowance(&app, &ana).await,
        Allowance {
            kind: "peer".into(),
            period_start: date(2026, 12, 1),
            resets_at: january,
            granted: 100,
            spent: 0,
            remaining: 100,
        }
    );
    granted(&app, &ana, &[ben.id], 25).await;
    let left = allowance(&app, &ana).await;
    assert_eq!((left.spent, left.remaining), (25, 75));
    assert_eq!(balance(&app, &ben).await, 85);
    assert_eq!(balance(&app, &cy).await, 40);
}

#[derive(Debug, Deserialize)]
struct Period {
    kind: String,
    label: String,
    start: Option<NaiveDate>,
    end: Option<NaiveDate>,
}

#[derive(Debug, Deserialize)]
struct Standing {
    display_name: String,
    points: i64,
    rank: i64,
}

#[derive(Debug, Deserialize)]
struct MemberBoard {
    period: Period,
    ranked_members: i64,
    top: Vec<Standing>,
}

#[derive(Debug, Deserialize)]
struct TeamStanding {
    name: String,
    points: i64,
}

#[derive(Debug, Deserialize)]
struct TeamBoard {
    period: Period,
    ranked_teams: i64,
    top: Vec<TeamStanding>,
}

async fn member_board(app: &TestApp, who: &Actor, period: &str) -> MemberBoard {
    let r = app
        .get(
            &format!("/api/v1/leaderboards/members?period={period}"),
            &who.token,
        )
        .await;
    serde_json::from_value(r.ok().clone()).expect("a members board")
}

async fn team_board(app: &TestApp, who: &Actor, period: &str) -> TeamBoard {
    let r = app
        .get(
            &format!("/api/v1/leaderboards/teams?period={period}"),
            &who.token,
        )
        .await;
    serde_json::from_value(r.ok().clone()).expect("a teams board")
}

/// Who is on a members board with how many points, in order.
fn standings(board: &MemberBoard) -> Vec<(&str, i64, i64)> {
    board
        .top
        .iter()
        .map(|s| (s.display_name.as_str(), s.rank, s.points))
        .collect()
}

fn teams(board: &TeamBoard) -> Vec<(&str, i64)> {
    board
        .top
        .iter()
        .map(|t| (t.name.as_str(), t.points))
        .collect()
}

/// Sunday 31 May 2026 is the last day of ISO week 22 and of May: at local midnight the week
/// and the month boards both start again, while the past periods keep what they had.
#[rocket::async_test]
async fn week_and_month_boards_turn_at_local_midnight() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let care = app.team(&org, "Care").await;
    let store = app.team(&org, "Store").await;
    let ana = app.member(&org, "Ana", Role::Employee, Some(care)).await;
    let ben = app.member(&org, "Ben", Role::Employee, Some(store)).await;

    app.clock.set(oslo(2026, 5, 31, 23, 59));
    granted(&app, &org.admin, &[ana.id], 10).await;
    let week = member_board(&app, &ana, "week").await;
    assert_eq!(
        (week.period.kind.as_str(), week.period.label.as_str()),
        ("week", "2026-W22")
    );
    assert_eq!(
        (week.period.start, week.period.end),
        (Some(date(2026, 5, 25)), Some(date(2026, 6, 1)))
    );
    assert_eq!(standings(&week), vec![("Ana", 1, 10)]);
    let month = member_board(&app, &ana, "month").await;
    assert_eq!(month.period.label, "2026-05");
    assert_eq!(standings(&month), vec![("Ana", 1, 10)]);

    // Monday 1 June, 00:00 in Oslo (22:00 UTC on Sunday, summer time).
    let midnight = oslo(2026, 6, 1, 0, 0);
    assert_eq!(
        midnight,
        Utc.with_ymd_and_hms(2026, 5, 31, 22, 0, 0).unwrap()
    );
    app.clock.set(midnight);
    // Nothing earned yet in the new week and month: Ana's 10 points stay in May.
    let week = member_board(&app, &ana, "week").await;
    assert_eq!(week.period.label, "2026-W23");
    assert_eq!(week.ranked_members, 0);
    assert!(week.top.is_empty());
    granted(&app, &org.admin, &[ben.id], 7).await;
    app.let_boards_catch_up();

    let week = member_board(&app, &ana, "week").await;
    assert_eq!(
        (
            week.period.label.as_str(),
            week.period.start,
            week.period.end
        ),
        ("2026-W23", Some(date(2026, 6, 1)), Some(date(2026, 6, 8)))
    );
    assert_eq!(week.ranked_members, 1);
    assert_eq!(standings(&week), vec![("Ben", 1, 7)]);
    let month = member_board(&app, &ana, "month").await;
    assert_eq!(
        (
            month.period.label.as_str(),
            month.period.start,
            month.period.end
        ),
        ("2026-06", Some(date(2026, 6, 1)), Some(date(2026, 7, 1)))
    );
    assert_eq!(standings(&month), vec![("Ben", 1, 7)]);
    // The periods that ended keep their totals.
    assert_eq!(
        standings(&member_board(&app, &ana, "2026-W22").await),
        vec![("Ana", 1, 10)]
    );
    assert_eq!(
        standings(&member_board(&app, &ana, "2026-05").await),
        vec![("Ana", 1, 10)]
    );
    // Both periods' quarter and year hold both.
    assert_eq!(
        standings(&member_board(&app, &ana, "quarter").await),
        vec![("Ana", 1, 10), ("Ben", 2, 7)]
    );

    // Team boards turn with them.
    let week = team_board(&app, &ana, "week").await;
    assert_eq!(
        (week.period.label.as_str(), week.ranked_teams),
        ("2026-W23", 1)
    );
    assert_eq!(teams(&week), vec![("Store", 7)]);
    let month = team_board(&app, &ana, "month").await;
    assert_eq!(teams(&month), vec![("Store", 7)]);
    assert_eq!(
        teams(&team_board(&app, &ana, "2026-W22").await),
        vec![("Care", 10)]
    );
    assert_eq!(
        teams(&team_board(&app, &ana, "2026-05").await),
        vec![("Care", 10)]
    );
}

#[derive(Debug, Deserialize, PartialEq)]
struct Streaks {
    current_weeks: i64,
    longest_weeks: i64,
    active_this_week: bool,
}

async fn streaks(app: &TestApp, who: &Actor) -> Streaks {
    let r = app.get("/api/v1/me/progress", &who.token).await;
    serde_json::from_value(r.ok()["streaks"].clone()).expect("streaks")
}

fn streak(current_weeks: i64, longest_weeks: i64, active_this_week: bool) -> Streaks {
    Streaks {
        current_weeks,
        longest_weeks,
        active_this_week,
    }
}

/// A week with a recognition given counts from Monday 00:00 in Oslo; a streak stays alive
/// through a Monday without activity yet, and ends after a week without any.
#[rocket::async_test]
async fn weekly_streaks_turn_at_local_midnight_on_monday() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;

    // Sunday 31 May 2026, 23:59: the last minute of ISO week 22.
    app.clock.set(oslo(2026, 5, 31, 23, 59));
    granted(&app, &ana, &[ben.id], 1).await;
    assert_eq!(streaks(&app, &ana).await, streak(1, 1, true));
    // Monday 00:00: week 23 has nothing yet, and the streak is still alive.
    app.clock.set(oslo(2026, 6, 1, 0, 0));
    assert_eq!(streaks(&app, &ana).await, streak(1, 1, false));
    granted(&app, &ana, &[ben.id], 1).await;
    assert_eq!(streaks(&app, &ana).await, streak(2, 2, true));
    // Nothing given in week 24: on its Sunday at 23:59 the streak may still continue from
    // week 23...
    app.clock.set(oslo(2026, 6, 14, 23, 59));
    assert_eq!(streaks(&app, &ana).await, streak(2, 2, false));
    // ...and a minute later, in week 25, it has ended.
    app.clock.set(oslo(2026, 6, 15, 0, 0));
    assert_eq!(streaks(&app, &ana).await, streak(0, 2, false));
}

/// The export's default range ends today (exclusive) and covers twelve whole months: on 1
/// December it is December 2025 to November 2026, both turns at local midnight.
#[rocket::async_test]
async fn the_default_export_on_the_first_is_the_twelve_months_before_it() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    // Both members date from before the range, so each has a row in every month of it.
    let mut conn = app.db.conn().await;
    diesel::sql_query(
        "UPDATE members SET created_at = '2025-01-01T00:00:00Z' WHERE organisation_id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(org.id)
    .execute(&mut conn)
    .await
    .unwrap();

    // On both sides of each end of the range.
    for (at, points) in [
        (oslo(2025, 11, 30, 23, 59), 3),
        (oslo(2025, 12, 1, 0, 0), 5),
        (oslo(2026, 11, 30, 23, 59), 10),
        (oslo(2026, 12, 1, 0, 0), 7),
    ] {
        app.clock.set(at);
        granted(&app, &org.admin, &[ana.id], points).await;
    }

    app.clock.set(oslo(2026, 12, 1, 0, 5));
    let r = app
        .get("/api/v1/exports/engagement?format=json", &org.admin.token)
        .await;
    assert_eq!(r.status, Status::Ok, "{}", r.text);
    assert_eq!(
        r.header("Content-Disposition"),
        Some("attachment; filename=\"engagement-acme-members-month-2025-12-01_2026-12-01.json\"")
    );
    let rows: Vec<ExportRow> = serde_json::from_value(r.body.clone()).expect("a JSON array");
    // The admin, then Ana (by display name), each month by month.
    let mut expected = Vec::new();
    for who in ["Admin", "Ana"] {
        for i in 0..12 {
            let start = date(2025, 12, 1) + Months::new(i);
            let period = start.format("%Y-%m").to_string();
            let (given, received, points) = match (who, period.as_str()) {
                ("Admin", "2025-12" | "2026-11") => (1, 0, 0),
                ("Ana", "2025-12") => (0, 1, 5),
                ("Ana", "2026-11") => (0, 1, 10),
                _ => (0, 0, 0),
            };
            expected.push(ExportRow {
                display_name: who.into(),
                period,
                period_start: start,
                period_end: start + Months::new(1),
                recognitions_given: given,
                recognitions_received: received,
                points_earned: points,
            });
        }
    }
    assert_eq!(rows, expected);
}

/// The columns of an export row these tests look at.
#[derive(Debug, Deserialize, PartialEq)]
struct ExportRow {
    display_name: String,
    period: String,
    period_start: NaiveDate,
    period_end: NaiveDate,
    recognitions_given: i64,
    recognitions_received: i64,
    points_earned: i64,
}
