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
