//! Recognition culture: visibility, whole teams, comments, boosts (and their race), undo, and
//! reports with the admins' moderation queue.

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

async fn balance(app: &TestApp, who: &Actor) -> i64 {
    app.get("/api/v1/me/points", &who.token).await.ok()["balance"]
        .as_i64()
        .unwrap()
}

async fn remaining(app: &TestApp, who: &Actor) -> i64 {
    app.get("/api/v1/me/points", &who.token).await.ok()["allowance"]["remaining"]
        .as_i64()
        .unwrap()
}

async fn feed_ids(app: &TestApp, who: &Actor) -> Vec<String> {
    app.get("/api/v1/recognitions?limit=200", &who.token)
        .await
        .ok()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[rocket::async_test]
async fn visibility_decides_who_sees_a_recognition_but_not_its_points() {
    let app = TestApp::new().await;
    mid_month(&app);
    let org = app.seed_org("acme").await;
    let care = app.team(&org, "Care").await;
    let store = app.team(&org, "Store").await;
    let ana = app.member(&org, "Ana", Role::Employee, Some(care)).await;
    let ben = app.member(&org, "Ben", Role::Employee, Some(care)).await;
    let cy = app.member(&org, "Cy", Role::Employee, Some(care)).await;
    let lead = app.member(&org, "Lena", Role::TeamLead, Some(care)).await;
    let dan = app.member(&org, "Dan", Role::Employee, Some(store)).await;
    let hr = app.member(&org, "Hilde", Role::Hr, None).await;

    let mut body = kudos(&[ben.id], 10);
    body["visibility"] = json!("team");
    let team_only = give(&app, &ana, body).await.to_string();
    let mut body = kudos(&[ben.id], 10);
    body["visibility"] = json!("private");
    let private = give(&app, &ana, body).await.to_string();
    let public = give(&app, &ana, kudos(&[ben.id], 10)).await.to_string();

    let sees = |ids: &[String], id: &str| ids.iter().any(|i| i == id);
    for (who, team, private_too) in [
        (&ana, true, true),
        (&ben, true, true),
        (&cy, true, false),
        (&lead, true, true),
        (&dan, false, false),
        (&hr, true, true),
        (&org.admin, true, true),
    ] {
        let ids = feed_ids(&app, who).await;
        assert!(sees(&ids, &public), "{}", who.email);
        assert_eq!(sees(&ids, &team_only), team, "{}", who.email);
        assert_eq!(sees(&ids, &private), private_too, "{}", who.email);
        let shown = app
            .get(&format!("/api/v1/recognitions/{private}"), &who.token)
            .await;
        if private_too {
            assert_eq!(shown.ok()["visibility"], "private");
        } else {
            shown.problem(404);
        }
    }
    // The points count the same on the board, whoever can read the message.
    assert_eq!(balance(&app, &ben).await, 30);
    app.let_boards_catch_up();
    let board = app
        .get("/api/v1/leaderboards/members", &dan.token)
        .await
        .ok()
        .clone();
    assert_eq!(board["top"][0]["points"], 30);
    assert!(!board.to_string().contains("staying late"));
    app.post(
        "/api/v1/recognitions",
        &ana.token,
        json!({ "recipients": [ben.id], "message": "Hi", "points": 1, "visibility": "secret" }),
    )
    .await
    .invalid_field("visibility");
}

#[rocket::async_test]
async fn a_whole_team_is_recognised_and_paid_per_recipient() {
    let app = TestApp::new().await;
    mid_month(&app);
    let org = app.seed_org("acme").await;
    let care = app.team(&org, "Care").await;
    let lead = app.member(&org, "Lena", Role::TeamLead, Some(care)).await;
    let ana = app.member(&org, "Ana", Role::Employee, Some(care)).await;
    let ben = app.member(&org, "Ben", Role::Employee, Some(care)).await;

    let r = app
        .post(
            "/api/v1/recognitions",
            &lead.token,
            json!({ "team_ids": [care], "message": "A record week on the phones", "points": 20 }),
        )
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    assert_eq!(r.body["teams"][0]["name"], "Care");
    assert_eq!(
        r.body["recipients"].as_array().unwrap().len(),
        2,
        "the lead is not their own recipient"
    );
    assert_eq!(r.body["total_points"], 40);
    assert_eq!(balance(&app, &ana).await, 20);
    assert_eq!(balance(&app, &ben).await, 20);
    let budget = app.get("/api/v1/me/points", &lead.token).await.ok()["allowance"].clone();
    assert_eq!(budget["spent"], 40);

    let other = app.seed_org("globex").await;
    let theirs = app.team(&other, "Theirs").await;
    app.post(
        "/api/v1/recognitions",
        &lead.token,
        json!({ "team_ids": [theirs], "message": "Nice", "points": 1 }),
    )
    .await
    .invalid_field("team_ids[0]");
    app.post(
        "/api/v1/recognitions",
        &lead.token,
        json!({ "team_ids": [care, care], "message": "Nice", "points": 1 }),
    )
    .await
    .invalid_field("team_ids[1]");
    app.post(
        "/api/v1/recognitions",
        &lead.token,
        json!({ "message": "Nobody", "points": 1 }),
    )
    .await
    .invalid_field("recipients");
}

#[rocket::async_test]
async fn comments_on_recognitions_can_be_edited_for_fifteen_minutes_and_deleted() {
    let app = TestApp::new().await;
    mid_month(&app);
    let org = app.seed_org("acme").await;
    let care = app.team(&org, "Care").await;
    let store = app.team(&org, "Store").await;
    let ana = app.member(&org, "Ana", Role::Employee, Some(care)).await;
    let ben = app.member(&org, "Ben", Role::Employee, Some(care)).await;
    let dan = app.member(&org, "Dan", Role::Employee, Some(store)).await;
    let id = give(&app, &ana, kudos(&[ben.id], 5)).await;
    let path = format!("/api/v1/recognitions/{id}/comments");

    let r = app
        .post(&path, &ben.token, json!({ "body": "Thank you, Ana!" }))
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    let cid = id_of(&r.body);
    let dans = id_of(
        app.post(&path, &dan.token, json!({ "body": "Well deserved" }))
            .await
            .ok(),
    );
    let list = app.get(&path, &ana.token).await.ok().clone();
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        app.get(&format!("/api/v1/recognitions/{id}"), &ana.token)
            .await
            .ok()["comments"],
        2
    );
    app.post(&path, &ben.token, json!({ "body": "  " }))
        .await
        .invalid_field("body");
    app.anon_post(&path, json!({ "body": "x" }))
        .await
        .problem(401);

    // Edits: the author, within 15 minutes.
    let one = format!("{path}/{cid}");
    let r = app
        .patch(
            &one,
            &ben.token,
            json!({ "body": "Thank you so much, Ana!" }),
        )
        .await;
    assert_eq!(r.ok()["body"], "Thank you so much, Ana!");
    assert!(r.body["edited_at"].is_string());
    app.patch(&one, &ana.token, json!({ "body": "Not mine" }))
        .await
        .problem(403);
    app.clock.advance(std::time::Duration::from_secs(16 * 60));
    app.patch(&one, &ben.token, json!({ "body": "Too late" }))
        .await
        .problem(409);

    // Deletes: the author, or an admin (audited); not someone else.
    let r = app
        .request(
            rocket::http::Method::Delete,
            &format!("{path}/{dans}"),
            Some(&ben.token),
            None,
        )
        .await;
    r.problem(403);
    let r = app
        .request(
            rocket::http::Method::Delete,
            &format!("{path}/{dans}"),
            Some(&org.admin.token),
            None,
        )
        .await;
    assert_eq!(r.status, Status::NoContent, "{}", r.text);
    let r = app
        .request(rocket::http::Method::Delete, &one, Some(&ben.token), None)
        .await;
    assert_eq!(r.status, Status::NoContent);
    assert_eq!(
        app.get(&path, &ana.token).await.ok()["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let log = app
        .get("/api/v1/audit?action=comment_deleted", &org.admin.token)
        .await
        .ok()
        .clone();
    assert_eq!(log["items"].as_array().unwrap().len(), 1);

    // A private recognition's comments are as private as it is.
    let mut body = kudos(&[ben.id], 5);
    body["visibility"] = json!("private");
    let private = give(&app, &ana, body).await;
    app.get(
        &format!("/api/v1/recognitions/{private}/comments"),
        &dan.token,
    )
    .await
    .problem(404);
    app.post(
        &format!("/api/v1/recognitions/{private}/comments"),
        &dan.token,
        json!({ "body": "Peeking" }),
    )
    .await
    .problem(404);
}

#[rocket::async_test]
async fn boosts_add_points_from_the_boosters_own_pot_once() {
    let app = TestApp::new().await;
    mid_month(&app);
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let cy = app.member(&org, "Cy", Role::Employee, None).await;
    let id = give(&app, &ana, kudos(&[ben.id], 10)).await;
    let path = format!("/api/v1/recognitions/{id}/boosts");

    let r = app.post(&path, &cy.token, json!({ "points": 5 })).await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    assert_eq!(r.body["boosts"][0]["booster"]["id"], cy.id.to_string());
    assert_eq!(r.body["boosts"][0]["points_each"], 5);
    assert_eq!(balance(&app, &ben).await, 15);
    assert_eq!(remaining(&app, &cy).await, 95);
    let entries = app.get("/api/v1/me/points", &ben.token).await.ok()["entries"].clone();
    assert!(
        entries
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["reason"] == "recognition_boost")
    );

    app.post(&path, &cy.token, json!({ "points": 5 }))
        .await
        .problem(409);
    app.post(&path, &ana.token, json!({ "points": 5 }))
        .await
        .problem(403);
    app.post(&path, &ben.token, json!({ "points": 5 }))
        .await
        .problem(403);
    app.post(&path, &org.admin.token, json!({ "points": 0 }))
        .await
        .invalid_field("points");
    app.post(&path, &org.admin.token, json!({ "points": 1000 }))
        .await
        .invalid_field("points");
    app.anon_post(&path, json!({ "points": 1 }))
        .await
        .problem(401);
    let other = app.seed_org("globex").await;
    app.post(&path, &other.admin.token, json!({ "points": 1 }))
        .await
        .problem(404);
}

/// A booster whose allowance pays for 10 boosts sends 200 at once, to 200 recognitions: exactly
/// 10 are granted, and the ledger and the allowance agree.
#[rocket::async_test]
async fn two_hundred_racing_boosts_against_an_allowance_for_ten() {
    let app = TestApp::new().await;
    mid_month(&app);
    let org = app.seed_org("acme").await;
    app.patch(
        "/api/v1/organisation/point-rules",
        &org.admin.token,
        json!({ "peer_monthly_allowance": 100, "peer_daily_cap_per_recipient": 1000000, "peer_monthly_cap_per_recipient": 1000000 }),
    )
    .await
    .ok();
    // Badges would pay Ben for milestones too; this counts what the boosts paid.
    without_badges(&app, &org).await;
    let booster = app.member(&org, "Booster", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let mut ids = Vec::new();
    for _ in 0..200 {
        ids.push(give(&app, &org.admin, kudos(&[ben.id], 1)).await);
    }
    let requests = ids.iter().map(|id| {
        app.client
            .post(format!("/api/v1/recognitions/{id}/boosts"))
            .header(Header::new(
                "Authorization",
                format!("Bearer {}", booster.token),
            ))
            .header(ContentType::JSON)
            .body(json!({ "points": 10 }).to_string())
            .dispatch()
    });
    let responses = futures::future::join_all(requests).await;
    let (mut created, mut refused) = (0, 0);
    for r in responses {
        match r.status() {
            Status::Created => created += 1,
            Status::Conflict => refused += 1,
            other => panic!("unexpected {other}: {:?}", r.into_string().await),
        }
    }
    assert_eq!((created, refused), (10, 190));
    assert_eq!(balance(&app, &ben).await, 200 + 100);
    assert_eq!(remaining(&app, &booster).await, 0);

    // One booster racing on one recognition: one boost.
    let other = app.member(&org, "Other", Role::Employee, None).await;
    let id = ids[0];
    let requests = (0..20).map(|_| {
        app.client
            .post(format!("/api/v1/recognitions/{id}/boosts"))
            .header(Header::new(
                "Authorization",
                format!("Bearer {}", other.token),
            ))
            .header(ContentType::JSON)
            .body(json!({ "points": 1 }).to_string())
            .dispatch()
    });
    let statuses: Vec<Status> = futures::future::join_all(requests)
        .await
        .into_iter()
        .map(|r| r.status())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == Status::Created).count(),
        1
    );
    assert_eq!(remaining(&app, &other).await, 99);
}

#[rocket::async_test]
async fn the_giver_undoes_a_recognition_and_every_point_goes_back() {
    let app = TestApp::new().await;
    mid_month(&app);
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let cy = app.member(&org, "Cy", Role::Employee, None).await;
    let di = app.member(&org, "Di", Role::Employee, None).await;
    let id = give(&app, &ana, kudos(&[ben.id, cy.id], 10)).await;
    app.post(
        &format!("/api/v1/recognitions/{id}/boosts"),
        &di.token,
        json!({ "points": 5 }),
    )
    .await
    .ok();
    assert_eq!(balance(&app, &ben).await, 15);
    assert_eq!(remaining(&app, &ana).await, 80);
    assert_eq!(remaining(&app, &di).await, 90);
    let undo = format!("/api/v1/recognitions/{id}/undo");

    app.post_empty(&undo, &ben.token).await.problem(403);
    app.post_empty(&undo, &org.admin.token).await.problem(403);
    let r = app.post_empty(&undo, &ana.token).await;
    assert_eq!(r.ok()["status"], "undone");
    for who in [&ben, &cy] {
        assert_eq!(balance(&app, who).await, 0, "{}", who.email);
    }
    assert_eq!(remaining(&app, &ana).await, 100);
    assert_eq!(remaining(&app, &di).await, 100);
    // The boards at once, for anyone; the feed leaves it out; it is still there.
    app.let_boards_catch_up();
    let board = app
        .get("/api/v1/leaderboards/members", &di.token)
        .await
        .ok()
        .clone();
    assert_eq!(board["ranked_members"], 2, "{board}");
    assert_eq!(board["top"][0]["points"], 0);
    rebuild_boards(&app, &org).await;
    assert!(!feed_ids(&app, &ana).await.contains(&id.to_string()));
    let shown = app
        .get(&format!("/api/v1/recognitions/{id}"), &ben.token)
        .await
        .ok()
        .clone();
    assert_eq!(shown["status"], "undone");
    app.post_empty(&undo, &ana.token).await.problem(409);
    app.post(
        &format!("/api/v1/recognitions/{id}/boosts"),
        &cy.token,
        json!({ "points": 1 }),
    )
    .await
    .problem(409);

    // Only within the window.
    let late = give(&app, &ana, kudos(&[ben.id], 10)).await;
    app.clock.advance(std::time::Duration::from_secs(25 * 3600));
    let p = app
        .post_empty(&format!("/api/v1/recognitions/{late}/undo"), &ana.token)
        .await;
    assert!(p.problem(409)["undo_until"].is_string());
    let log = app
        .get("/api/v1/audit?action=recognition_undone", &org.admin.token)
        .await
        .ok()
        .clone();
    assert_eq!(log["items"].as_array().unwrap().len(), 1);
}

#[rocket::async_test]
async fn reports_reach_the_admins_who_hide_or_dismiss() {
    let app = TestApp::new().await;
    mid_month(&app);
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let cy = app.member(&org, "Cy", Role::Employee, None).await;
    let id = give(&app, &ana, kudos(&[ben.id], 10)).await;
    let report = format!("/api/v1/recognitions/{id}/reports");

    let r = app
        .post(
            &report,
            &cy.token,
            json!({ "reason": "This is an inside joke at someone's expense" }),
        )
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    assert_eq!(r.body["status"], "open");
    let first = id_of(&r.body);
    app.post(&report, &cy.token, json!({ "reason": "again" }))
        .await
        .problem(409);
    app.post(&report, &ben.token, json!({ "reason": "" }))
        .await
        .invalid_field("reason");
    let second = id_of(
        app.post(&report, &ben.token, json!({ "reason": "Not ok" }))
            .await
            .ok(),
    );
    // A comment too.
    let cid = id_of(
        app.post(
            &format!("/api/v1/recognitions/{id}/comments"),
            &cy.token,
            json!({ "body": "Rude remark" }),
        )
        .await
        .ok(),
    );
    let comment_report = id_of(
        app.post(
            &format!("/api/v1/recognitions/{id}/comments/{cid}/reports"),
            &ana.token,
            json!({ "reason": "Rude" }),
        )
        .await
        .ok(),
    );

    // The queue: admins only.
    app.get("/api/v1/moderation/reports", &ana.token)
        .await
        .problem(403);
    app.get("/api/v1/moderation/reports?status=maybe", &org.admin.token)
        .await
        .invalid_field("status");
    let queue = app
        .get("/api/v1/moderation/reports?status=open", &org.admin.token)
        .await
        .ok()
        .clone();
    let items = queue["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    // Made at one pinned time: the queue orders them by id.
    let content =
        |id: Uuid| items.iter().find(|r| r["id"] == id.to_string()).unwrap()["content"].clone();
    assert_eq!(
        content(first),
        "Thank you for staying late with that customer"
    );
    assert_eq!(content(comment_report), "Rude remark");

    // Dismiss the comment's report; hide the recognition: its points go back and both of its
    // reports are resolved.
    let r = app
        .post(
            &format!("/api/v1/moderation/reports/{comment_report}/dismiss"),
            &org.admin.token,
            json!({ "note": "Banter" }),
        )
        .await;
    assert_eq!(r.ok()["status"], "dismissed");
    app.post(
        &format!("/api/v1/moderation/reports/{comment_report}/hide"),
        &org.admin.token,
        json!({}),
    )
    .await
    .problem(409);
    app.post(
        &format!("/api/v1/moderation/reports/{first}/hide"),
        &ana.token,
        json!({}),
    )
    .await
    .problem(403);
    let other = app.seed_org("globex").await;
    app.post(
        &format!("/api/v1/moderation/reports/{first}/hide"),
        &other.admin.token,
        json!({}),
    )
    .await
    .problem(404);
    let r = app
        .post(
            &format!("/api/v1/moderation/reports/{first}/hide"),
            &org.admin.token,
            json!({ "note": "Not in the spirit of recognition" }),
        )
        .await;
    assert_eq!(r.ok()["status"], "hidden");
    assert_eq!(balance(&app, &ben).await, 0);
    assert_eq!(remaining(&app, &ana).await, 100);
    app.get(&format!("/api/v1/recognitions/{id}"), &ben.token)
        .await
        .problem(404);
    assert_eq!(
        app.get(&format!("/api/v1/recognitions/{id}"), &org.admin.token)
            .await
            .ok()["status"],
        "hidden"
    );
    let queue = app
        .get("/api/v1/moderation/reports?status=hidden", &org.admin.token)
        .await
        .ok()
        .clone();
    let hidden: Vec<&str> = queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(
        hidden.contains(&first.to_string().as_str())
            && hidden.contains(&second.to_string().as_str())
    );
    let log = app
        .get("/api/v1/audit?action=recognition_hidden", &org.admin.token)
        .await
        .ok()
        .clone();
    assert_eq!(log["items"].as_array().unwrap().len(), 1);
}

#[rocket::async_test]
async fn the_members_board_can_rank_by_distinct_givers() {
    let app = TestApp::new().await;
    mid_month(&app);
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let cy = app.member(&org, "Cy", Role::Employee, None).await;
    let di = app.member(&org, "Di", Role::Employee, None).await;
    for _ in 0..3 {
        give(&app, &org.admin, kudos(&[ana.id], 30)).await;
    }
    give(&app, &ben, kudos(&[cy.id], 10)).await;
    give(&app, &di, kudos(&[cy.id], 10)).await;

    let top = |board: &Value| board["top"][0]["member_id"].as_str().unwrap().to_string();
    let board = app
        .get("/api/v1/leaderboards/members", &ben.token)
        .await
        .ok()
        .clone();
    assert_eq!(board["rank_by"], "points");
    assert_eq!(top(&board), ana.id.to_string());
    let board = app
        .get(
            "/api/v1/leaderboards/members?rank_by=distinct_givers",
            &ben.token,
        )
        .await
        .ok()
        .clone();
    assert_eq!(board["rank_by"], "distinct_givers");
    assert_eq!(top(&board), cy.id.to_string());
    assert_eq!(board["top"][0]["distinct_givers"], 2);
    assert_eq!(board["top"][0]["points"], 20);
    assert_eq!(board["top"][1]["distinct_givers"], 1);
    assert_eq!(board["me"]["rank"], 3, "Ben was recognised by no one");

    // The organisation makes it the default.
    let r = app
        .patch(
            "/api/v1/organisation",
            &org.admin.token,
            json!({ "rank_members_by": "distinct_givers" }),
        )
        .await;
    assert_eq!(r.ok()["rank_members_by"], "distinct_givers");
    app.let_boards_catch_up();
    let board = app
        .get("/api/v1/leaderboards/members", &di.token)
        .await
        .ok()
        .clone();
    assert_eq!(top(&board), cy.id.to_string());
    app.patch(
        "/api/v1/organisation",
        &org.admin.token,
        json!({ "rank_members_by": "friends" }),
    )
    .await
    .invalid_field("rank_members_by");
    app.get("/api/v1/leaderboards/members?rank_by=likes", &ben.token)
        .await
        .invalid_field("rank_by");
    app.get(
        "/api/v1/leaderboards/members?rank_by=distinct_givers&dimension=empathy",
        &ben.token,
    )
    .await
    .invalid_field("rank_by");
}

/// A friend's kudos spent on a reward cannot be undone: the allowance would come back while the
/// reward stayed.
#[rocket::async_test]
async fn an_undo_does_not_take_back_points_already_spent() {
    let app = TestApp::new().await;
    mid_month(&app);
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let id = give(&app, &ana, kudos(&[ben.id], 40)).await;
    let r = app
        .post(
            "/api/v1/rewards/items",
            &org.admin.token,
            json!({ "title": "Cinema", "point_cost": 30 }),
        )
        .await;
    let item = id_of(r.ok());
    app.post_empty(
        &format!("/api/v1/rewards/items/{item}/redemptions"),
        &ben.token,
    )
    .await
    .ok();
    let p = app
        .post_empty(&format!("/api/v1/recognitions/{id}/undo"), &ana.token)
        .await;
    assert_eq!(p.problem(409)["recipient"], ben.id.to_string());
    assert_eq!(balance(&app, &ben).await, 10);
    assert_eq!(remaining(&app, &ana).await, 60);
}

/// Undos racing the recipient's redemption of exactly the points they would take back: either the
/// redemption wins and every undo answers 409, or an undo lands first and the redemption is
/// refused; never both, so no allowance comes back for points already spent.
#[rocket::async_test]
async fn undos_racing_a_redemption_of_the_same_points_never_both_win() {
    let app = TestApp::new().await;
    mid_month(&app);
    let org = app.seed_org("acme").await;
    without_badges(&app, &org).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let mut outcomes = (0, 0);
    for round in 0..6 {
        let mut friends = Vec::new();
        let mut kudos_ids = Vec::new();
        for f in 0..3 {
            let friend = app
                .member(&org, &format!("Friend {round}-{f}"), Role::Employee, None)
                .await;
            kudos_ids.push(give(&app, &friend, kudos(&[ben.id], 40)).await);
            friends.push(friend);
        }
        // Priced at the whole balance, so a redemption leaves nothing an undo could take back.
        let price = balance(&app, &ben).await;
        let r = app
            .post(
                "/api/v1/rewards/items",
                &org.admin.token,
                json!({ "title": format!("Trip {round}"), "point_cost": price }),
            )
            .await;
        let item = id_of(r.ok());
        let post = |path: String, token: &str| {
            app.client
                .post(path)
                .header(Header::new("Authorization", format!("Bearer {token}")))
                .dispatch()
        };
        let redemption = post(
            format!("/api/v1/rewards/items/{item}/redemptions"),
            &ben.token,
        );
        let undos =
            futures::future::join_all(friends.iter().zip(&kudos_ids).map(|(friend, id)| {
                post(format!("/api/v1/recognitions/{id}/undo"), &friend.token)
            }));
        // Whichever is polled first tends to reach the database first: alternate.
        let (redemption, undos) = if round % 2 == 0 {
            futures::join!(redemption, undos)
        } else {
            let (undos, redemption) = futures::join!(undos, redemption);
            (redemption, undos)
        };
        let redeemed = match redemption.status() {
            Status::Created | Status::Ok => true,
            Status::Conflict | Status::UnprocessableEntity => false,
            other => panic!("redemption: {other}: {:?}", redemption.into_string().await),
        };
        let mut undone = 0;
        for u in undos {
            match u.status() {
                Status::Ok => undone += 1,
                Status::Conflict => {}
                other => panic!("undo: {other}: {:?}", u.into_string().await),
            }
        }
        if redeemed {
            assert_eq!(undone, 0, "round {round}: an undo took back spent points");
            assert_eq!(balance(&app, &ben).await, 0);
            outcomes.0 += 1;
        } else {
            assert_eq!(
                undone, 3,
                "round {round}: the redemption lost, so every undo may land"
            );
            assert_eq!(balance(&app, &ben).await, price - 120);
            outcomes.1 += 1;
        }
        for friend in &friends {
            let back = if redeemed { 60 } else { 100 };
            assert_eq!(remaining(&app, friend).await, back, "round {round}");
        }
    }
    eprintln!("redemption won {} rounds, undos {}", outcomes.0, outcomes.1);
}
