//! Celebrations and nudges: birthdays and work anniversaries awarded on the member's local day
//! (once per member and year, however many runs or processes race), posted to the feed with
//! no giver and paid from the company's pot; personal dates and who sees them; and the
//! recognition gaps team leads read.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use diesel::sql_types::{BigInt, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use frontline::auth::Role;
use frontline::celebrations::{Awarded, award_due};
use frontline::db::Db;
use rocket::http::Status;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::*;
use crate::servers::Server;

/// `y-m-d h:m` on the wall in Oslo, as the service's clock takes it.
fn oslo(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    chrono_tz::Europe::Oslo
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn db(app: &TestApp) -> &Db {
    app.client
        .rocket()
        .state::<Db>()
        .expect("the service's pool")
}

/// Stand at `at` and run the awards, as the server's task does.
async fn award_at(app: &TestApp, at: DateTime<Utc>) -> Awarded {
    app.clock.set(at);
    award_due(db(app), at).await.expect("awards run")
}

async fn pay(app: &TestApp, org: &Org, birthday: i32, anniversary: i32) {
    let r = app
        .patch(
            "/api/v1/organisation/point-rules",
            &org.admin.token,
            json!({ "birthday_points": birthday, "anniversary_points": anniversary }),
        )
        .await;
    assert_eq!(r.ok()["birthday_points"], birthday);
    assert_eq!(r.ok()["anniversary_points"], anniversary);
}

async fn set_dates(app: &TestApp, org: &Org, member: Uuid, dates: Value) {
    let r = app
        .patch(
            &format!("/api/v1/members/{member}"),
            &org.admin.token,
            dates,
        )
        .await;
    r.ok();
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(app: &TestApp, query: &str, id: Uuid) -> i64 {
    let mut conn = app.db.conn().await;
    let c: Count = diesel::sql_query(query)
        .bind::<SqlUuid, _>(id)
        .get_result(&mut conn)
        .await
        .unwrap();
    c.n
}

const CELEBRATION_ENTRIES: &str = "SELECT count(*) AS n FROM ledger_entries WHERE organisation_id = $1 AND reason = 'celebration'";
const CELEBRATION_RECOGNITIONS: &str =
    "SELECT count(*) AS n FROM recognitions WHERE organisation_id = $1 AND kind = 'celebration'";

fn celebrations_in(feed: &Value) -> Vec<Value> {
    feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "celebration")
        .cloned()
        .collect()
}

#[rocket::async_test]
async fn birthdays_and_anniversaries_are_awarded_on_the_local_day_once() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let team = app.team(&org, "Care").await;
    let ana = app.member(&org, "Ana", Role::Employee, Some(team)).await;
    let ben = app.member(&org, "Ben", Role::Employee, Some(team)).await;
    let cy = app.member(&org, "Cy", Role::Employee, Some(team)).await;
    // An admin sets Ana's birthday; Ben sets his own start date; Cy's birthday is tomorrow.
    set_dates(&app, &org, ana.id, json!({ "birth_date": "--03-14" })).await;
    let r = app
        .patch(
            "/api/v1/me",
            &ben.token,
            json!({ "started_on": "2024-03-14" }),
        )
        .await;
    assert_eq!(r.ok()["started_on"], "2024-03-14");
    set_dates(
        &app,
        &org,
        cy.id,
        json!({ "birth_date": "--03-15", "started_on": "2027-03-14" }),
    )
    .await;
    pay(&app, &org, 15, 40).await;

    // 23:59 on the 13th in Oslo (22:59 UTC): not yet.
    assert_eq!(
        award_at(&app, oslo(2027, 3, 13, 23, 59)).await,
        Awarded::default()
    );
    // Midnight in Oslo, still the 13th in UTC: Ana's birthday, Ben's third year. Cy started
    // today: no anniversary in the year one starts.
    let at = oslo(2027, 3, 14, 0, 0);
    let first = award_at(&app, at).await;
    assert_eq!(
        first,
        Awarded {
            birthdays: 1,
            anniversaries: 1
        }
    );
    // Again, later the same day, and after a restart: nothing more.
    assert_eq!(award_at(&app, oslo(2027, 3, 14, 18, 0)).await.total(), 0);
    // A server started afresh on the same database finds them made.
    let (clock, control) = frontline::clock::Clock::settable();
    let restarted = frontline::rocket_with_clock(figment_for(&app.db), clock).unwrap();
    let restarted = rocket::local::asynchronous::Client::tracked(restarted)
        .await
        .unwrap();
    let later = oslo(2027, 3, 14, 20, 0);
    control.set(later);
    let again = award_due(restarted.rocket().state::<Db>().unwrap(), later).await;
    assert_eq!(again.unwrap().total(), 0);
    app.clock.set(oslo(2027, 3, 14, 21, 0));

    // In the feed, without a giver, at midnight Oslo.
    let feed = app.get("/api/v1/recognitions", &cy.token).await;
    let shown = celebrations_in(feed.ok());
    assert_eq!(shown.len(), 2, "{}", feed.text);
    let birthday = shown
        .iter()
        .find(|r| r["message"] == "Happy birthday, Ana!")
        .expect("Ana's birthday");
    assert!(birthday["giver"].is_null());
    assert_eq!(birthday["points_each"], 15);
    assert_eq!(birthday["recipients"][0]["id"], ana.id.to_string());
    assert_eq!(
        birthday["created_at"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        at
    );
    let anniversary = shown
        .iter()
        .find(|r| r["recipients"][0]["id"] == ben.id.to_string())
        .unwrap();
    assert_eq!(
        anniversary["message"],
        "Ben celebrates 3 years with us today!"
    );
    assert_eq!(anniversary["points_each"], 40);
    let one = app
        .get(
            &format!("/api/v1/recognitions/{}", birthday["id"].as_str().unwrap()),
            &ben.token,
        )
        .await;
    assert!(one.ok()["giver"].is_null());
    // Nobody gave it, so nobody may take it back.
    let undo = format!(
        "/api/v1/recognitions/{}/undo",
        birthday["id"].as_str().unwrap()
    );
    for token in [&ana.token, &org.admin.token] {
        app.post_empty(&undo, token).await.problem(403);
    }

    // The ledger: one entry each, reason celebration, from the recognition.
    let points: Points = app.get("/api/v1/me/points", &ana.token).await.json();
    assert_eq!(points.balance, 15);
    assert_eq!(points.entries.len(), 1);
    let entry = &points.entries[0];
    assert_eq!(entry.reason, "celebration");
    assert_eq!(entry.source_type.as_deref(), Some("recognition"));
    assert_eq!(entry.source_id.unwrap().to_string(), birthday["id"]);
    assert_eq!(entry.team_id, Some(team));
    let points: Points = app.get("/api/v1/me/points", &ben.token).await.json();
    assert_eq!(points.balance, 40);
    assert_eq!(count(&app, CELEBRATION_ENTRIES, org.id).await, 2);
    // From the company's pot: nobody's allowance or budget was spent.
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM giving_balances WHERE organisation_id = $1",
            org.id
        )
        .await,
        0
    );

    // On the boards, the member's and the team's.
    app.let_boards_catch_up();
    let board = app
        .get("/api/v1/leaderboards/members?period=month", &ana.token)
        .await;
    assert_eq!(board.ok()["me"]["points"], 15, "{}", board.text);
    let board = app
        .get("/api/v1/leaderboards/teams?period=month", &ana.token)
        .await;
    assert_eq!(board.ok()["my_team"]["points"], 55, "{}", board.text);

    // Next year, again once each; Cy's first anniversary now too.
    let next = award_at(&app, oslo(2028, 3, 14, 9, 0)).await;
    assert_eq!(
        next,
        Awarded {
            birthdays: 1,
            anniversaries: 2
        }
    );
    assert_eq!(award_at(&app, oslo(2028, 3, 14, 10, 0)).await.total(), 0);
    let feed = app.get("/api/v1/recognitions", &cy.token).await;
    let messages: Vec<&str> = feed.ok()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["message"].as_str())
        .collect();
    assert!(
        messages.contains(&"Ben celebrates 4 years with us today!"),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"Cy celebrates 1 year with us today!"),
        "{messages:?}"
    );
    assert_eq!(count(&app, CELEBRATION_ENTRIES, org.id).await, 5);
}

#[rocket::async_test]
async fn racing_runs_award_each_celebration_once() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    pay(&app, &org, 10, 0).await;
    // More members born today than one batch holds, so the runs race across batches.
    let mut conn = app.db.conn().await;
    diesel::sql_query(
        "INSERT INTO members (organisation_id, email, display_name, role, birth_month, birth_day) \
         SELECT $1, 'm' || n || '@acme.example', 'Member ' || n, 'employee', 6, 1 \
         FROM generate_series(1, 450) AS n",
    )
    .bind::<SqlUuid, _>(org.id)
    .execute(&mut conn)
    .await
    .unwrap();
    drop(conn);
    let at = oslo(2027, 6, 1, 8, 0);
    app.clock.set(at);
    let runs = (0..6).map(|_| award_due(db(&app), at));
    let results = futures::future::join_all(runs).await;
    let total: usize = results.into_iter().map(|r| r.unwrap().birthdays).sum();
    assert_eq!(total, 450);
    assert_eq!(count(&app, CELEBRATION_ENTRIES, org.id).await, 450);
    assert_eq!(count(&app, CELEBRATION_RECOGNITIONS, org.id).await, 450);
    assert_eq!(
        count(
            &app,
            "SELECT count(DISTINCT member_id) AS n FROM ledger_entries \
             WHERE organisation_id = $1 AND reason = 'celebration' AND points = 10",
            org.id
        )
        .await,
        450
    );
    // A later run finds nothing left to do.
    assert_eq!(award_at(&app, at).await.total(), 0);
}

/// Two `frontline serve` processes on one database, each awarding every 100 ms on the real
/// clock: every member born today is celebrated once.
#[rocket::async_test]
async fn two_server_processes_celebrate_each_birthday_once() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    pay(&app, &org, 7, 0).await;
    let today = Utc::now().with_timezone(&chrono_tz::Europe::Oslo);
    let mut ids = Vec::new();
    for name in ["Ana", "Ben", "Cy", "Di", "Eli"] {
        let m = app.member(&org, name, Role::Employee, None).await;
        let birthday = format!("--{}", today.format("%m-%d"));
        set_dates(&app, &org, m.id, json!({ "birth_date": birthday })).await;
        ids.push(m.id);
    }
    let fast = [("FRONTLINE_CELEBRATION_INTERVAL_MS", "100")];
    let (_a, _b) = tokio::join!(
        Server::start_with(&app.db.url, &fast),
        Server::start_with(&app.db.url, &fast)
    );
    let started = Instant::now();
    while count(&app, CELEBRATION_ENTRIES, org.id).await < 5 {
        assert!(started.elapsed() < Duration::from_secs(20), "not awarded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A dozen more runs of each process, any of which would pay again if a claim could be
    // made twice.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(count(&app, CELEBRATION_ENTRIES, org.id).await, 5);
    assert_eq!(count(&app, CELEBRATION_RECOGNITIONS, org.id).await, 5);
    for id in ids {
        let mine = count(
            &app,
            "SELECT COALESCE(sum(points), 0)::bigint AS n FROM ledger_entries WHERE member_id = $1",
            id,
        )
        .await;
        assert_eq!(mine, 7);
    }
}

#[rocket::async_test]
async fn nothing_is_awarded_while_a_setting_is_zero_nor_to_former_members() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let cy = app.member(&org, "Cy", Role::Employee, None).await;
    for m in [&ana, &ben, &cy] {
        set_dates(
            &app,
            &org,
            m.id,
            json!({ "birth_date": "--05-20", "started_on": "2020-05-20" }),
        )
        .await;
    }
    let at = oslo(2027, 5, 20, 12, 0);
    // Both off (the default): nothing.
    let rules = app
        .get("/api/v1/organisation/point-rules", &ana.token)
        .await;
    assert_eq!(rules.ok()["birthday_points"], 0);
    assert_eq!(rules.ok()["anniversary_points"], 0);
    assert_eq!(award_at(&app, at).await, Awarded::default());
    // Anniversaries only; a deactivated and an erased member get nothing.
    pay(&app, &org, 0, 30).await;
    app.post_empty(
        &format!("/api/v1/members/{}/deactivate", ben.id),
        &org.admin.token,
    )
    .await
    .ok();
    app.post_empty(
        &format!("/api/v1/members/{}/erase", cy.id),
        &org.admin.token,
    )
    .await
    .ok();
    assert_eq!(
        award_at(&app, at).await,
        Awarded {
            birthdays: 0,
            anniversaries: 1
        }
    );
    let feed = app.get("/api/v1/recognitions", &ana.token).await;
    let shown = celebrations_in(feed.ok());
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0]["message"], "Ana celebrates 7 years with us today!");
    assert_eq!(count(&app, CELEBRATION_ENTRIES, org.id).await, 1);
}

#[rocket::async_test]
async fn feb_29_is_celebrated_on_feb_28_in_other_years() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    pay(&app, &org, 5, 5).await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    set_dates(
        &app,
        &org,
        ana.id,
        json!({ "birth_date": "--02-29", "started_on": "2024-02-29" }),
    )
    .await;
    assert_eq!(award_at(&app, oslo(2027, 2, 27, 12, 0)).await.total(), 0);
    assert_eq!(
        award_at(&app, oslo(2027, 2, 28, 12, 0)).await,
        Awarded {
            birthdays: 1,
            anniversaries: 1
        }
    );
    assert_eq!(award_at(&app, oslo(2027, 3, 1, 12, 0)).await.total(), 0);
    // A leap year: the day itself, not Feb 28.
    assert_eq!(award_at(&app, oslo(2028, 2, 28, 12, 0)).await.total(), 0);
    assert_eq!(
        award_at(&app, oslo(2028, 2, 29, 12, 0)).await,
        Awarded {
            birthdays: 1,
            anniversaries: 1
        }
    );
    let feed = app.get("/api/v1/recognitions", &ana.token).await;
    assert!(
        feed.text.contains("Ana celebrates 4 years with us today!"),
        "{}",
        feed.text
    );
}

#[rocket::async_test]
async fn personal_dates_are_checked_and_shown_only_to_admins_hr_and_the_member() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let hr = app.member(&org, "Hanna", Role::Hr, None).await;
    let admin = &org.admin.token;

    // Created with them, by an admin.
    let r = app
        .post(
            "/api/v1/members",
            admin,
            json!({ "email": "cy@acme.example", "display_name": "Cy", "role": "employee",
                    "birth_date": "--12-31", "started_on": "2022-01-10" }),
        )
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    assert_eq!(r.body["birth_date"], "--12-31");
    assert_eq!(r.body["started_on"], "2022-01-10");

    // Bad values name their field, everywhere they are accepted.
    for bad in ["--02-30", "--13-01", "03-14", "--3-14", "2000-03-14", ""] {
        let r = app
            .patch("/api/v1/me", &ana.token, json!({ "birth_date": bad }))
            .await;
        r.invalid_field("birth_date");
    }
    for bad in [
        "2021-13-01",
        "1899-12-31",
        "01-02-2021",
        "2021-02-29",
        "3000-01-01",
    ] {
        let r = app
            .patch(
                &format!("/api/v1/members/{}", ana.id),
                admin,
                json!({ "started_on": bad }),
            )
            .await;
        r.invalid_field("started_on");
    }
    let r = app
        .post(
            "/api/v1/members",
            admin,
            json!({ "email": "di@acme.example", "display_name": "Di", "role": "employee",
                    "birth_date": "--04-31", "started_on": "yesterday" }),
        )
        .await;
    r.invalid_field("birth_date");
    r.invalid_field("started_on");
    let r = app
        .patch("/api/v1/me", &ana.token, json!({ "started_on": 20210101 }))
        .await;
    r.invalid_field("started_on");
    let r = app
        .patch("/api/v1/me", &ana.token, json!({ "birthday": "--03-14" }))
        .await;
    assert_eq!(r.status, Status::UnprocessableEntity, "{}", r.text);
    for (field, bad) in [("birthday_points", 1001), ("anniversary_points", -1)] {
        let r = app
            .patch(
                "/api/v1/organisation/point-rules",
                admin,
                json!({ field: bad }),
            )
            .await;
        r.invalid_field(field);
    }
    let r = app
        .patch(
            "/api/v1/organisation/point-rules",
            &ana.token,
            json!({ "birthday_points": 5 }),
        )
        .await;
    r.problem(403);

    // Ana sets her own; she, admins and HR see them; Ben does not.
    let r = app
        .patch(
            "/api/v1/me",
            &ana.token,
            json!({ "birth_date": "--02-29", "started_on": "2020-06-01" }),
        )
        .await;
    assert_eq!(r.ok()["birth_date"], "--02-29");
    assert_eq!(r.ok()["organisation"]["slug"], "acme");
    let me = app.get("/api/v1/me", &ana.token).await;
    assert_eq!(me.ok()["started_on"], "2020-06-01");
    for token in [admin, &hr.token] {
        let r = app.get(&format!("/api/v1/members/{}", ana.id), token).await;
        assert_eq!(r.ok()["birth_date"], "--02-29");
        assert_eq!(r.ok()["started_on"], "2020-06-01");
    }
    let r = app
        .get(&format!("/api/v1/members/{}", ana.id), &ben.token)
        .await;
    assert!(r.ok().get("birth_date").is_none(), "{}", r.text);
    assert!(r.ok().get("started_on").is_none(), "{}", r.text);
    let list = app.get("/api/v1/members", &ben.token).await;
    for m in list.ok()["items"].as_array().unwrap() {
        // Ben sees his own, nobody else's.
        let own = m["id"] == ben.id.to_string();
        assert_eq!(m.get("birth_date").is_some(), own, "{m}");
        assert_eq!(m.get("started_on").is_some(), own, "{m}");
    }
    // Unset, those who may see them see null.
    let r = app.get(&format!("/api/v1/members/{}", ben.id), admin).await;
    assert!(r.ok()["birth_date"].is_null() && r.ok().get("birth_date").is_some());

    // Absent leaves a date; null clears it.
    let r = app
        .patch("/api/v1/me", &ana.token, json!({ "started_on": null }))
        .await;
    assert_eq!(r.ok()["birth_date"], "--02-29");
    assert!(r.ok()["started_on"].is_null());

    // My data holds them; erasure clears them.
    let data = app.get("/api/v1/me/data", &ana.token).await;
    assert_eq!(data.ok()["profile"]["birth_date"], "--02-29");
    assert_eq!(data.ok()["profile"]["birth_month"], 2);
    assert!(data.ok()["celebrations"].is_array());
    app.post_empty(&format!("/api/v1/members/{}/erase", ana.id), admin)
        .await
        .ok();
    let r = app.get(&format!("/api/v1/members/{}", ana.id), admin).await;
    assert!(r.ok()["birth_date"].is_null());
    assert!(r.ok()["started_on"].is_null());
}

#[rocket::async_test]
async fn an_erased_members_celebrations_lose_their_words() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    pay(&app, &org, 5, 0).await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    set_dates(&app, &org, ana.id, json!({ "birth_date": "--08-08" })).await;
    assert_eq!(award_at(&app, oslo(2027, 8, 8, 12, 0)).await.birthdays, 1);
    let data = app.get("/api/v1/me/data", &ana.token).await;
    assert_eq!(data.ok()["celebrations"][0]["kind"], "birthday");
    assert_eq!(data.ok()["celebrations"][0]["year"], 2027);
    app.post_empty(
        &format!("/api/v1/members/{}/erase", ana.id),
        &org.admin.token,
    )
    .await
    .ok();
    let feed = app.get("/api/v1/recognitions", &ben.token).await;
    let shown = celebrations_in(feed.ok());
    assert_eq!(shown[0]["message"], "[erased]");
    assert_eq!(shown[0]["recipients"][0]["display_name"], "Erased member");
    assert_eq!(shown[0]["points_each"], 5);
    assert!(!feed.text.contains("Happy birthday, Ana"));
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM celebrations WHERE member_id = $1",
            ana.id
        )
        .await,
        0
    );
}

/// Recognise `to` as `giver` at `at` on the service's clock; the recognition's id.
async fn recognise_at(app: &TestApp, giver: &str, to: Uuid, at: DateTime<Utc>) -> Uuid {
    app.clock.set(at);
    let r = app
        .post(
            "/api/v1/recognitions",
            giver,
            json!({ "recipients": [to], "message": "Thank you!", "points": 5 }),
        )
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    id_of(&r.body)
}

#[rocket::async_test]
async fn recognition_gaps_list_the_most_overlooked_first() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let care = app.team(&org, "Care").await;
    let store = app.team(&org, "Store").await;
    let lars = app.member(&org, "Lars", Role::TeamLead, Some(care)).await;
    let sofia = app.member(&org, "Sofia", Role::TeamLead, Some(store)).await;
    let ana = app.member(&org, "Ana", Role::Employee, Some(care)).await;
    let ben = app.member(&org, "Ben", Role::Employee, Some(care)).await;
    let cy = app.member(&org, "Cy", Role::Employee, Some(care)).await;
    let di = app.member(&org, "Di", Role::Employee, Some(care)).await;
    let eli = app.member(&org, "Eli", Role::Employee, Some(store)).await;
    let hr = app.member(&org, "Hanna", Role::Hr, None).await;

    // Ben: by Lars ten days ago and by Eli twelve days ago; Cy by HR three days ago, in the
    // evening (local days count, not 24-hour spans); Ana only by her birthday; Di deactivated.
    recognise_at(&app, &eli.token, ben.id, oslo(2027, 4, 8, 9, 0)).await;
    recognise_at(&app, &lars.token, ben.id, oslo(2027, 4, 10, 9, 0)).await;
    recognise_at(&app, &hr.token, cy.id, oslo(2027, 4, 17, 23, 30)).await;
    // Eli's later one for Cy is taken back: it does not count.
    let undone = recognise_at(&app, &eli.token, cy.id, oslo(2027, 4, 18, 10, 0)).await;
    app.post_empty(&format!("/api/v1/recognitions/{undone}/undo"), &eli.token)
        .await
        .ok();
    pay(&app, &org, 10, 0).await;
    set_dates(&app, &org, ana.id, json!({ "birth_date": "--04-19" })).await;
    assert_eq!(award_at(&app, oslo(2027, 4, 19, 8, 0)).await.birthdays, 1);
    app.post_empty(
        &format!("/api/v1/members/{}/deactivate", di.id),
        &org.admin.token,
    )
    .await
    .ok();
    app.clock.set(oslo(2027, 4, 20, 0, 30));

    let path = format!("/api/v1/teams/{care}/recognition-gaps");
    let r = app.get(&path, &lars.token).await;
    let gaps = r.ok();
    assert_eq!(gaps["team_id"], care.to_string());
    assert_eq!(gaps["as_of"], "2027-04-20");
    assert_eq!(gaps["truncated"], false);
    let rows = gaps["members"].as_array().unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|m| m["display_name"].as_str().unwrap())
        .collect();
    // The lead is left out; the deactivated member too.
    assert_eq!(names, ["Ana", "Ben", "Cy"], "{}", r.text);
    assert!(rows[0]["days_since_recognised"].is_null());
    assert!(rows[0]["last_recognised_at"].is_null());
    assert!(rows[0]["last_recognised_by"].is_null());
    assert_eq!(rows[0]["role"], "employee");
    assert_eq!(rows[1]["member_id"], ben.id.to_string());
    assert_eq!(rows[1]["days_since_recognised"], 10);
    assert_eq!(rows[1]["last_recognised_by"]["id"], lars.id.to_string());
    assert_eq!(rows[1]["last_recognised_by"]["display_name"], "Lars");
    assert_eq!(rows[2]["days_since_recognised"], 3);
    assert_eq!(rows[2]["last_recognised_by"]["display_name"], "Hanna");
    assert_eq!(
        rows[2]["last_recognised_at"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        oslo(2027, 4, 17, 23, 30)
    );

    // Admins and HR see any team, the lead included.
    for token in [&org.admin.token, &hr.token] {
        let r = app.get(&path, token).await;
        let names: Vec<&str> = r.ok()["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["display_name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Ana", "Lars", "Ben", "Cy"], "{}", r.text);
    }

    // Refusals: anonymous, an employee, the lead of another team, another organisation.
    let r = app
        .request(rocket::http::Method::Get, &path, None, None)
        .await;
    r.problem(401);
    app.get(&path, &ana.token).await.problem(403);
    app.get(&path, &sofia.token).await.problem(403);
    app.get(
        &format!("/api/v1/teams/{store}/recognition-gaps"),
        &sofia.token,
    )
    .await
    .ok();
    let other = app.seed_org("globex").await;
    let theirs = app.team(&other, "Theirs").await;
    app.get(
        &format!("/api/v1/teams/{theirs}/recognition-gaps"),
        &lars.token,
    )
    .await
    .problem(404);
    app.get(&path, &other.admin.token).await.problem(404);
    app.get(
        "/api/v1/teams/not-a-team/recognition-gaps",
        &org.admin.token,
    )
    .await
    .problem(404);
    app.get(
        &format!("/api/v1/teams/{}/recognition-gaps", Uuid::new_v4()),
        &org.admin.token,
    )
    .await
    .problem(404);
}
