//! An undo gives the giver's allowance back, so nothing a recognition counted for may outlive
//! it: challenges' progress (recognitions given and received, points earned), badges and
//! exports forget an undone recognition, and an undo that a completed challenge already paid
//! on is refused. Otherwise give, let it count, undo, give again farms them for free.

use chrono::{Duration, SecondsFormat, Utc};
use frontline::auth::Role;
use rocket::http::Status;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::*;

const CHALLENGES: &str = "/api/v1/challenges";

fn challenge(metric: &str, target: i64) -> Value {
    json!({
        "title": format!("Most {metric}"),
        "scope": "organisation",
        "metric": metric,
        "target": target,
        "reward_points": 50,
        "ends_at": (Utc::now() + Duration::days(30)).to_rfc3339_opts(SecondsFormat::Millis, true),
    })
}

async fn create(app: &TestApp, org: &Org, body: Value) -> String {
    let r = app.post(CHALLENGES, &org.admin.token, body).await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    r.body["id"].as_str().unwrap().to_string()
}

async fn show(app: &TestApp, who: &Actor, id: &str) -> Value {
    app.get(&format!("{CHALLENGES}/{id}"), &who.token)
        .await
        .ok()
        .clone()
}

async fn give(app: &TestApp, from: &Actor, to: Uuid, points: i32) -> Uuid {
    let r = app
        .post(
            "/api/v1/recognitions",
            &from.token,
            json!({ "recipients": [to], "message": "Thank you for that save", "points": points }),
        )
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    id_of(&r.body)
}

async fn undo(app: &TestApp, who: &Actor, id: Uuid) -> Resp {
    app.post_empty(&format!("/api/v1/recognitions/{id}/undo"), &who.token)
        .await
}

/// What the challenge tallies (and completes on), as the fold leaves it.
async fn tallied(app: &TestApp, id: &str) -> i64 {
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = app.db.conn().await;
    let n: N = diesel::sql_query(
        "SELECT COALESCE(sum(amount), 0)::bigint AS n FROM challenge_tallies WHERE challenge_id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(Uuid::parse_str(id).unwrap())
    .get_result(&mut conn)
    .await
    .unwrap();
    n.n
}

/// Give, undo, give again, undo again: no challenge moves, none completes, nobody is paid.
#[rocket::async_test]
async fn give_and_undo_cycles_move_no_challenge() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let given = create(&app, &org, challenge("recognitions_given", 3)).await;
    let received = create(&app, &org, challenge("recognitions_received", 3)).await;
    let earned = create(&app, &org, challenge("points_earned", 100)).await;

    // (Undone points still count against the daily cap per recipient: 4 x 10 of its 50.)
    for _ in 0..4 {
        let id = give(&app, &ana, ben.id, 10).await;
        assert_eq!(show(&app, &ana, &given).await["progress"], 1);
        assert_eq!(show(&app, &ana, &earned).await["progress"], 10);
        undo(&app, &ana, id).await.ok();
        for c in [&given, &received, &earned] {
            let now = show(&app, &ana, c).await;
            assert_eq!(now["progress"], 0, "{now}");
            assert!(now["completed_at"].is_null(), "{now}");
            assert_eq!(tallied(&app, c).await, 0, "{now}");
        }
    }
    let entries = app.get("/api/v1/me/points?limit=200", &ben.token).await;
    assert!(
        entries.ok()["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["reason"] != "challenge_reward"),
        "{}",
        entries.text
    );
    // What stands still counts.
    give(&app, &ana, ben.id, 10).await;
    assert_eq!(show(&app, &ana, &given).await["progress"], 1);
    assert_eq!(show(&app, &ana, &earned).await["progress"], 10);
}

/// A recognition that a challenge completed on (and paid its rewards for) can no longer be
/// undone by its giver: 409 naming the challenge. An admin may still hide it.
#[rocket::async_test]
async fn an_undo_is_refused_once_a_challenge_completed_on_it() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let c = create(&app, &org, challenge("recognitions_received", 1)).await;
    let id = give(&app, &ana, ben.id, 10).await;
    assert!(show(&app, &ben, &c).await["completed_at"].is_string());
    let r = undo(&app, &ana, id).await;
    assert_eq!(r.problem(409)["challenge_id"], c.as_str(), "{}", r.text);
    let r = app
        .get(&format!("/api/v1/recognitions/{id}"), &ana.token)
        .await;
    assert_eq!(r.ok()["status"], "active");

    // A recognition given outside the challenge's dimension is free to undo.
    let mut narrow = challenge("recognitions_given", 1);
    narrow["dimension"] = json!("empathy");
    create(&app, &org, narrow).await;
    let other = app
        .post(
            "/api/v1/recognitions",
            &ana.token,
            json!({ "recipients": [ben.id], "message": "Thanks for the quick fix", "points": 5, "dimension": "trust" }),
        )
        .await;
    assert_eq!(other.status, Status::Created, "{}", other.text);
    // (It counts for the completed organisation challenge above, which completed before it.)
    undo(&app, &ana, id_of(&other.body)).await.ok();
}

/// A badge for recognitions given or received counts only recognitions that stand: two undone
/// kudos and one standing one are not the two a badge asks for.
#[rocket::async_test]
async fn badges_do_not_count_undone_recognitions() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    for (key, criterion) in [
        ("giver", "recognitions_given"),
        ("popular", "recognitions_received"),
    ] {
        let r = app
            .post(
                "/api/v1/badges",
                &org.admin.token,
                json!({ "key": key, "name": key, "criterion": criterion, "threshold": 2, "points": 25 }),
            )
            .await;
        assert_eq!(r.status, Status::Created, "{}", r.text);
    }
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let badges = |who: Uuid| {
        let app = &app;
        let token = org.admin.token.clone();
        async move {
            app.get(&format!("/api/v1/members/{who}/badges"), &token)
                .await
                .ok()
                .as_array()
                .unwrap()
                .len()
        }
    };
    for _ in 0..2 {
        let id = give(&app, &ana, ben.id, 5).await;
        undo(&app, &ana, id).await.ok();
    }
    give(&app, &ana, ben.id, 5).await;
    assert_eq!(
        badges(ana.id).await,
        0,
        "Ana has given one recognition that stands"
    );
    assert_eq!(badges(ben.id).await, 0, "Ben has received one");
    give(&app, &ana, ben.id, 5).await;
    assert_eq!(badges(ana.id).await, 1);
    assert_eq!(badges(ben.id).await, 1);
}

/// An undone kudos is no longer announced in its recipient's inbox; the others stay.
#[rocket::async_test]
async fn an_undone_recognition_leaves_the_recipients_inbox() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let kept = give(&app, &ana, ben.id, 5).await;
    let undone = give(&app, &ana, ben.id, 5).await;
    let inbox = || async {
        let r = app.get("/api/v1/me/notifications", &ben.token).await;
        let body = r.ok().clone();
        let subjects: Vec<String> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["subject"]["id"].as_str().unwrap().to_string())
            .collect();
        (subjects, body["unread_count"].as_i64().unwrap())
    };
    let (before, unread) = inbox().await;
    assert!(before.contains(&undone.to_string()), "{before:?}");
    undo(&app, &ana, undone).await.ok();
    let (after, now_unread) = inbox().await;
    assert!(!after.contains(&undone.to_string()), "{after:?}");
    assert!(after.contains(&kept.to_string()), "{after:?}");
    assert_eq!(now_unread, unread - 1);
}
