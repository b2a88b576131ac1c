//! Notifications: the inbox every member has (written in the transaction of the change), its
//! routes, preferences and quiet hours.

use diesel::sql_types::{BigInt, Text, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use frontline::auth::Role;
use rocket::http::{ContentType, Header, Status};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::*;

fn mid_month(app: &TestApp) {
    use chrono::TimeZone;
    let noon = chrono_tz::Europe::Oslo
        .with_ymd_and_hms(2026, 11, 18, 12, 0, 0)
        .unwrap();
    app.clock.set(noon.with_timezone(&chrono::Utc));
}

fn kudos(to: &[Uuid], points: i32) -> Value {
    json!({ "recipients": to, "message": "Thank you for staying late with that customer", "points": points })
}

async fn give(app: &TestApp, who: &Actor, body: Value) -> Uuid {
    let r = app.post("/api/v1/recognitions", &who.token, body).await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    id_of(&r.body)
}

#[derive(diesel::QueryableByName, Debug, PartialEq)]
pub struct Row {
    #[diesel(sql_type = BigInt)]
    pub seq: i64,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = SqlUuid)]
    pub subject_id: Uuid,
}

/// What is in `member`'s inbox, oldest first, read from the database.
pub async fn inbox(app: &TestApp, member: Uuid) -> Vec<Row> {
    let mut conn = app.db.conn().await;
    diesel::sql_query(
        "SELECT seq, kind, subject_id FROM notifications WHERE member_id = $1 ORDER BY seq",
    )
    .bind::<SqlUuid, _>(member)
    .load(&mut conn)
    .await
    .unwrap()
}

async fn kinds(app: &TestApp, member: Uuid) -> Vec<String> {
    inbox(app, member)
        .await
        .into_iter()
        .map(|r| r.kind)
        .collect()
}

#[rocket::async_test]
async fn a_recognition_reaches_each_recipient_once_and_never_its_giver() {
    let app = TestApp::new().await;
    mid_month(&app);
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let cy = app.member(&org, "Cy", Role::Employee, None).await;
    let id = give(&app, &ana, kudos(&[ben.id, cy.id], 10)).await;
    for who in [&ben, &cy] {
        let rows = inbox(&app, who.id).await;
        assert_eq!(
            rows,
            vec![Row {
                seq: 1,
                kind: "recognition.received".into(),
                subject_id: id
            }]
        );
    }
    assert!(
        inbox(&app, ana.id).await.is_empty(),
        "the giver hears nothing"
    );
    assert!(inbox(&app, org.admin.id).await.is_empty());
}

#[rocket::async_test]
async fn a_boost_reaches_the_recipients_and_the_giver_but_not_the_booster() {
    let app = TestApp::new().await;
    mid_month(&app);
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let cy = app.member(&org, "Cy", Role::Employee, None).await;
    let id = give(&app, &ana, kudos(&[ben.id], 10)).await;
    let r = app
        .post(
            &format!("/api/v1/recognitions/{id}/boosts"),
            &cy.token,
            json!({ "points": 5 }),
        )
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    assert_eq!(
        kinds(&app, ben.id).await,
        ["recognition.received", "recognition.boosted"]
    );
    assert_eq!(kinds(&app, ana.id).await, ["recognition.boosted"]);
    assert!(
        kinds(&app, cy.id).await.is_empty(),
        "the booster hears nothing"
    );
    // A refused boost (the second by the same member) writes nothing.
    let again = app
        .post(
            &format!("/api/v1/recognitions/{id}/boosts"),
            &cy.token,
            json!({ "points": 5 }),
        )
        .await;
    assert_eq!(again.status, Status::Conflict, "{}", again.text);
    assert_eq!(kinds(&app, ana.id).await, ["recognition.boosted"]);
}

#[rocket::async_test]
async fn deactivated_members_get_nothing() {
    let app = TestApp::new().await;
    mid_month(&app);
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let cy = app.member(&org, "Cy", Role::Employee, None).await;
    let id = give(&app, &ana, kudos(&[ben.id, cy.id], 10)).await;
    let mut conn = app.db.conn().await;
    diesel::sql_query("UPDATE members SET deactivated_at = now() WHERE id = $1")
        .bind::<SqlUuid, _>(cy.id)
        .execute(&mut conn)
        .await
        .unwrap();
    let dan = app.member(&org, "Dan", Role::Employee, None).await;
    let r = app
        .post(
            &format!("/api/v1/recognitions/{id}/boosts"),
            &dan.token,
            json!({ "points": 5 }),
        )
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    assert_eq!(kinds(&app, cy.id).await, ["recognition.received"]);
    assert_eq!(
        kinds(&app, ben.id).await,
        ["recognition.received", "recognition.boosted"]
    );
}

/// 50 recognitions racing to one member, from 10 givers: the member's inbox is numbered
/// exactly 1..=50, no gap and no duplicate.
#[rocket::async_test]
async fn fifty_racing_recognitions_to_one_member_are_numbered_one_to_fifty() {
    let app = TestApp::new().await;
    mid_month(&app);
    let org = app.seed_org("acme").await;
    app.patch(
        "/api/v1/organisation/point-rules",
        &org.admin.token,
        json!({ "peer_monthly_allowance": 100000, "peer_daily_cap_per_recipient": 1000000 }),
    )
    .await
    .ok();
    // Twenty recognitions earn a badge: only the recognitions are counted here.
    without_badges(&app, &org).await;
    let star = app.member(&org, "Star", Role::Employee, None).await;
    let mut givers = Vec::new();
    for i in 0..10 {
        givers.push(
            app.member(&org, &format!("Giver {i}"), Role::Employee, None)
                .await,
        );
    }
    let requests = (0..50).map(|i| {
        app.client
            .post("/api/v1/recognitions")
            .header(Header::new(
                "Authorization",
                format!("Bearer {}", givers[i % givers.len()].token),
            ))
            .header(ContentType::JSON)
            .body(kudos(&[star.id], 1).to_string())
            .dispatch()
    });
    for r in futures::future::join_all(requests).await {
        assert_eq!(r.status(), Status::Created);
    }
    let seqs: Vec<i64> = inbox(&app, star.id).await.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=50).collect::<Vec<i64>>());
}

/// `n` recognitions from `from` to `to`, one at a time (so their order is known).
async fn recognise_n(app: &TestApp, from: &Actor, to: &Actor, n: usize) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(give(app, from, kudos(&[to.id], 1)).await);
    }
    ids
}

#[rocket::async_test]
async fn the_inbox_pages_newest_first_and_counts_the_unread() {
    let app = TestApp::new().await;
    mid_month(&app);
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let ids = recognise_n(&app, &ana, &ben, 5).await;

    let r = app
        .get("/api/v1/me/notifications?limit=2", &ben.token)
        .await;
    let page = r.ok();
    assert_eq!(page["unread_count"], 5);
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["seq"], 5);
    assert_eq!(items[0]["kind"], "recognition.received");
    assert_eq!(items[0]["subject"]["type"], "recognition");
    assert_eq!(items[0]["subject"]["id"], ids[4].to_string());
    assert_eq!(items[0]["actor"]["id"], ana.id.to_string());
    assert_eq!(items[0]["actor"]["display_name"], "Ana");
    assert_eq!(items[0]["data"]["points"], 1);
    assert_eq!(items[0]["read_at"], Value::Null);
    assert_eq!(items[1]["seq"], 4);

    let (all, pages) = all_pages(
        &app,
        "/api/v1/me/notifications?limit=2",
        "items",
        &ben.token,
    )
    .await;
    assert_eq!(pages, 3);
    let seqs: Vec<i64> = all.iter().map(|n| n["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, [5, 4, 3, 2, 1]);

    // Read one: idempotent, answers it read; the count drops once.
    let third = all[2]["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/me/notifications/{third}/read");
    let first = app.post_empty(&path, &ben.token).await;
    let read_at = first.ok()["read_at"].clone();
    assert!(read_at.is_string(), "{}", first.text);
    let again = app.post_empty(&path, &ben.token).await;
    assert_eq!(again.ok()["read_at"], read_at, "read once, when first read");
    let unread = app
        .get("/api/v1/me/notifications?unread_only=true", &ben.token)
        .await;
    let unread = unread.ok();
    assert_eq!(unread["unread_count"], 4);
    let seqs: Vec<i64> = unread["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [5, 4, 2, 1]);

    // Read up to 4: 5 stays unread; then all.
    let r = app
        .post(
            "/api/v1/me/notifications/read-all",
            &ben.token,
            json!({ "up_to_seq": 4 }),
        )
        .await;
    assert_eq!(r.ok()["marked"], 3);
    assert_eq!(r.body["unread_count"], 1);
    let r = app
        .post("/api/v1/me/notifications/read-all", &ben.token, json!({}))
        .await;
    assert_eq!(r.ok()["marked"], 1);
    assert_eq!(r.body["unread_count"], 0);
    // Ana's inbox is her own: empty.
    let r = app.get("/api/v1/me/notifications", &ana.token).await;
    assert_eq!(r.ok()["items"], json!([]));
    assert_eq!(r.body["unread_count"], 0);
}

#[rocket::async_test]
async fn the_inbox_refuses_strangers_bad_input_and_others_notifications() {
    let app = TestApp::new().await;
    mid_month(&app);
    let org = app.seed_org("acme").await;
    let other = app.seed_org("globex").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    give(&app, &ana, kudos(&[ben.id], 1)).await;
    let page = app.get("/api/v1/me/notifications", &ben.token).await;
    let id = page.ok()["items"][0]["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/me/notifications/{id}/read");

    // 401 without a token.
    for r in [
        app.get("/api/v1/me/notifications", "").await,
        app.post_empty(&path, "").await,
        app.post("/api/v1/me/notifications/read-all", "", json!({}))
            .await,
    ] {
        r.problem(401);
    }
    // Another member's (same organisation or not), an unknown id, a malformed one: 404.
    app.post_empty(&path, &ana.token).await.problem(404);
    app.post_empty(&path, &other.admin.token).await.problem(404);
    let unknown = format!("/api/v1/me/notifications/{}/read", Uuid::new_v4());
    app.post_empty(&unknown, &ben.token).await.problem(404);
    app.post_empty("/api/v1/me/notifications/nope/read", &ben.token)
        .await
        .problem(404);
    // Still unread.
    let page = app.get("/api/v1/me/notifications", &ben.token).await;
    assert_eq!(page.ok()["unread_count"], 1);

    // 422s naming the field.
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("cursor=nonsense", "cursor"),
        ("unread_only=maybe", "unread_only"),
    ] {
        app.get(&format!("/api/v1/me/notifications?{query}"), &ben.token)
            .await
            .invalid_field(field);
    }
    let r = app
        .post(
            "/api/v1/me/notifications/read-all",
            &ben.token,
            json!({ "up_to_seq": -1 }),
        )
        .await;
    r.invalid_field("up_to_seq");
    let r = app
        .post(
            "/api/v1/me/notifications/read-all",
            &ben.token,
            json!({ "up_to_seq": "x" }),
        )
        .await;
    r.invalid_field("up_to_seq");
    let r = app
        .post(
            "/api/v1/me/notifications/read-all",
            &ben.token,
            json!({ "all": true }),
        )
        .await;
    assert_eq!(r.status, Status::UnprocessableEntity, "{}", r.text);
    let r = app
        .post_empty("/api/v1/me/notifications/read-all", &ben.token)
        .await;
    r.problem(400);
}

#[rocket::async_test]
async fn an_erased_actor_shows_as_a_former_member() {
    let app = TestApp::new().await;
    mid_month(&app);
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    give(&app, &ana, kudos(&[ben.id], 1)).await;
    let mut conn = app.db.conn().await;
    diesel::sql_query("UPDATE members SET erased_at = now(), display_name = 'x' WHERE id = $1")
        .bind::<SqlUuid, _>(ana.id)
        .execute(&mut conn)
        .await
        .unwrap();
    let page = app.get("/api/v1/me/notifications", &ben.token).await;
    assert_eq!(
        page.ok()["items"][0]["actor"]["display_name"],
        "Former member"
    );
}

const PREFS: &str = "/api/v1/me/notification-preferences";

fn oslo(h: u32, m: u32) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono_tz::Europe::Oslo
        .with_ymd_and_hms(2026, 11, 18, h, m, 0)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

#[rocket::async_test]
async fn a_kind_turned_off_is_not_written_and_the_rest_still_are() {
    let app = TestApp::new().await;
    mid_month(&app);
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let cy = app.member(&org, "Cy", Role::Employee, None).await;

    let r = app.get(PREFS, &ben.token).await;
    let prefs = r.ok();
    assert_eq!(prefs["quiet_hours"], Value::Null);
    assert_eq!(prefs["events"]["recognition.received"], true);
    assert_eq!(prefs["events"].as_object().unwrap().len(), 12);

    let r = app
        .put(PREFS, &ben.token, json!({ "events": { "recognition.received": false, "win.commented": true }, "quiet_hours": null }))
        .await;
    assert_eq!(r.ok()["events"]["recognition.received"], false);
    assert_eq!(r.body["events"]["recognition.boosted"], true);
    let id = give(&app, &ana, kudos(&[ben.id], 1)).await;
    app.post(
        &format!("/api/v1/recognitions/{id}/boosts"),
        &cy.token,
        json!({ "points": 1 }),
    )
    .await
    .ok();
    assert_eq!(kinds(&app, ben.id).await, ["recognition.boosted"]);
    // Ana's choices are her own.
    assert_eq!(kinds(&app, ana.id).await, ["recognition.boosted"]);
    // Turned on again (left out of the map): written again.
    app.put(
        PREFS,
        &ben.token,
        json!({ "events": {}, "quiet_hours": null }),
    )
    .await
    .ok();
    give(&app, &ana, kudos(&[ben.id], 1)).await;
    assert_eq!(
        kinds(&app, ben.id).await,
        ["recognition.boosted", "recognition.received"]
    );
}

#[rocket::async_test]
async fn quiet_hours_wrap_midnight_in_the_member_s_zone() {
    let app = TestApp::new().await;
    mid_month(&app);
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let cy = app.member(&org, "Cy", Role::Employee, None).await;
    // Ben: 22:00-07:00 in the organisation's zone (Oslo). Cy: the same hours in New York.
    let quiet = |zone: Value| json!({ "events": {}, "quiet_hours": { "start": "22:00", "end": "07:00", "time_zone": zone } });
    let r = app.put(PREFS, &ben.token, quiet(Value::Null)).await;
    assert_eq!(
        r.ok()["quiet_hours"],
        json!({ "start": "22:00", "end": "07:00", "time_zone": null })
    );
    app.put(PREFS, &cy.token, quiet(json!("America/New_York")))
        .await
        .ok();
    let quiet_flags = async |who: Uuid| -> Vec<bool> {
        let mut conn = app.db.conn().await;
        #[derive(diesel::QueryableByName)]
        struct Q {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            quiet: bool,
        }
        let rows: Vec<Q> =
            diesel::sql_query("SELECT quiet FROM notifications WHERE member_id = $1 ORDER BY seq")
                .bind::<SqlUuid, _>(who)
                .load(&mut conn)
                .await
                .unwrap();
        rows.into_iter().map(|q| q.quiet).collect()
    };
    // Oslo 23:30 (NY 17:30), 06:59 (NY 00:59), 07:00 (NY 01:00), 12:00 (NY 06:00), 21:59 (15:59).
    for (h, m) in [(23, 30), (6, 59), (7, 0), (12, 0), (21, 59)] {
        app.clock.set(oslo(h, m));
        give(&app, &ana, kudos(&[ben.id, cy.id], 1)).await;
    }
    assert_eq!(quiet_flags(ben.id).await, [true, true, false, false, false]);
    assert_eq!(quiet_flags(cy.id).await, [false, true, true, true, false]);
    // Quiet ones are in the inbox all the same.
    let page = app.get("/api/v1/me/notifications", &ben.token).await;
    assert_eq!(page.ok()["unread_count"], 5);
    assert_eq!(page.body["items"][4]["quiet"], true);
}

#[rocket::async_test]
async fn preferences_refuse_strangers_and_name_each_bad_field() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    app.get(PREFS, "").await.problem(401);
    app.put(PREFS, "", json!({ "events": {}, "quiet_hours": null }))
        .await
        .problem(401);
    let hours = |start: &str, end: &str, zone: &str| json!({ "events": {}, "quiet_hours": { "start": start, "end": end, "time_zone": zone } });
    for (body, field) in [
        (
            json!({ "events": { "nope": false }, "quiet_hours": null }),
            "events.nope",
        ),
        (
            json!({ "events": { "badge.earned": "no" }, "quiet_hours": null }),
            "events.badge.earned",
        ),
        (json!({ "quiet_hours": null }), "events"),
        (hours("25:00", "07:00", "UTC"), "quiet_hours.start"),
        (hours("22:00", "7", "UTC"), "quiet_hours.end"),
        (hours("22:00", "22:00", "UTC"), "quiet_hours.end"),
        (
            hours("22:00", "07:00", "Mars/Olympus"),
            "quiet_hours.time_zone",
        ),
        (
            json!({ "events": {}, "quiet_hours": { "start": "22:00" } }),
            "quiet_hours.end",
        ),
        (
            json!({ "events": {}, "quiet_hours": null, "extra": 1 }),
            "extra",
        ),
    ] {
        let r = app.put(PREFS, &ben.token, body.clone()).await;
        assert_eq!(r.status, Status::UnprocessableEntity, "{body}: {}", r.text);
        let fields: Vec<String> = r.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap_or("").to_string())
            .collect();
        assert!(
            fields.iter().any(|f| f == field || f.starts_with(field)),
            "{body}: expected {field} in {fields:?}"
        );
    }
    // Nothing was stored.
    assert_eq!(
        app.get(PREFS, &ben.token).await.ok()["quiet_hours"],
        Value::Null
    );
}

#[rocket::async_test]
async fn old_notifications_are_purged_and_erasure_empties_the_inbox() {
    let app = TestApp::new().await;
    mid_month(&app);
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    give(&app, &ana, kudos(&[ben.id], 1)).await;
    app.put(
        PREFS,
        &ben.token,
        json!({ "events": { "badge.earned": false }, "quiet_hours": { "start": "22:00", "end": "07:00" } }),
    )
    .await
    .ok();
    let mine = app.get("/api/v1/me/data", &ben.token).await;
    let data = mine.ok();
    assert_eq!(data["notifications"][0]["kind"], "recognition.received");
    assert_eq!(
        data["notification_preferences"]["events_off"],
        json!(["badge.earned"])
    );
    assert_eq!(
        data["notification_preferences"]["quiet_hours"]["quiet_start"],
        "22:00:00"
    );

    let mut conn = app.db.conn().await;
    assert_eq!(
        frontline::notifications::purge(&mut conn, 90)
            .await
            .unwrap(),
        0
    );
    diesel::sql_query("UPDATE notifications SET created_at = created_at - interval '91 days'")
        .execute(&mut conn)
        .await
        .unwrap();
    give(&app, &ana, kudos(&[ben.id], 1)).await;
    assert_eq!(
        frontline::notifications::purge(&mut conn, 90)
            .await
            .unwrap(),
        1
    );
    assert_eq!(inbox(&app, ben.id).await.len(), 1, "the recent one stays");

    let r = app
        .post_empty(
            &format!("/api/v1/members/{}/erase", ben.id),
            &org.admin.token,
        )
        .await;
    assert_eq!(r.status, Status::Ok, "{}", r.text);
    assert!(inbox(&app, ben.id).await.is_empty());
    give(&app, &ana, kudos(&[org.admin.id], 1)).await;
    assert!(inbox(&app, ben.id).await.is_empty());
}
