//! Rewards: the catalogue, redeeming points (never more than a member has, never more than the
//! stock, however many race, on however many server processes), the statuses and their
//! refunds, and points earned that spending leaves alone.

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;
use frontline::auth::Role;
use rocket::http::{ContentType, Header, Status};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::*;
use crate::servers::{Server, send_to};

const ITEMS: &str = "/api/v1/rewards/items";

fn hoodie(cost: i64, stock: Option<i64>, approval: bool) -> Value {
    json!({
        "title": "Frontline hoodie",
        "description": "Warm.\nWith the six dimensions on the back.",
        "image_url": "https://shop.example/hoodie.png",
        "point_cost": cost,
        "stock": stock,
        "requires_approval": approval,
    })
}

/// An item made by the admin: its id.
async fn item(app: &TestApp, org: &Org, body: Value) -> Uuid {
    let r = app.post(ITEMS, &org.admin.token, body).await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    id_of(&r.body)
}

/// Points for `who`, from the admin (an adjustment: points earned).
async fn give(app: &TestApp, org: &Org, who: Uuid, points: i32) {
    app.post(
        "/api/v1/ledger/adjustments",
        &org.admin.token,
        json!({ "member_id": who, "points": points, "reason": "for the rewards test" }),
    )
    .await
    .ok();
}

async fn redeem(app: &TestApp, token: &str, item: Uuid) -> Resp {
    app.post_empty(&format!("{ITEMS}/{item}/redemptions"), token)
        .await
}

async fn points(app: &TestApp, token: &str) -> Points {
    app.get("/api/v1/me/points?limit=200", token).await.json()
}

fn redemption(id: &Value) -> String {
    format!("/api/v1/rewards/redemptions/{}", id.as_str().unwrap())
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(app: &TestApp, sql: &str, org: Uuid) -> i64 {
    let mut conn = app.db.conn().await;
    diesel::sql_query(sql)
        .bind::<diesel::sql_types::Uuid, _>(org)
        .get_result::<Count>(&mut conn)
        .await
        .unwrap()
        .n
}

#[rocket::async_test]
async fn admins_keep_the_catalogue_and_members_see_what_is_active() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let r = app
        .post(ITEMS, &org.admin.token, hoodie(30, Some(3), false))
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    assert_eq!(r.body["stock"], 3);
    assert_eq!(r.body["active"], true);
    assert_eq!(
        r.body["description"],
        "Warm.\nWith the six dimensions on the back."
    );
    let id = id_of(&r.body);
    let minimal = item(&app, &org, json!({ "title": "Cinema", "point_cost": 60 })).await;
    let shown = app.get(&format!("{ITEMS}/{minimal}"), &ana.token).await;
    assert_eq!(shown.ok()["stock"], Value::Null, "unlimited");
    assert_eq!(shown.body["image_url"], Value::Null);
    assert_eq!(shown.body["requires_approval"], false);

    // Changed: absent fields stay, null clears the picture and makes the stock unlimited.
    let r = app
        .patch(
            &format!("{ITEMS}/{id}"),
            &org.admin.token,
            json!({ "point_cost": 35, "image_url": null, "stock": null }),
        )
        .await;
    assert_eq!(r.ok()["point_cost"], 35);
    assert_eq!(r.body["title"], "Frontline hoodie");
    assert_eq!(r.body["image_url"], Value::Null);
    assert_eq!(r.body["stock"], Value::Null);
    let audit = app
        .get("/api/v1/audit?action=reward_item_changed", &org.admin.token)
        .await;
    let details = &audit.ok()["items"][0]["details"];
    assert_eq!(details["point_cost"], json!({ "from": 30, "to": 35 }));
    assert!(details.get("title").is_none(), "{details}");

    // Deactivated: gone for members, still there for admins.
    app.patch(
        &format!("{ITEMS}/{id}"),
        &org.admin.token,
        json!({ "active": false }),
    )
    .await
    .ok();
    let listed = app.get(ITEMS, &ana.token).await;
    let ids: Vec<&str> = listed.ok()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [minimal.to_string()]);
    app.get(&format!("{ITEMS}/{id}"), &ana.token)
        .await
        .problem(404);
    app.get(&format!("{ITEMS}/{id}"), &org.admin.token)
        .await
        .ok();
    app.get(&format!("{ITEMS}?include_inactive=true"), &ana.token)
        .await
        .problem(403);
    let (all, pages) = all_pages(
        &app,
        &format!("{ITEMS}?include_inactive=true&limit=1"),
        "items",
        &org.admin.token,
    )
    .await;
    assert_eq!((all.len(), pages), (2, 2));
    redeem(&app, &ana.token, id).await.problem(409);
}

#[rocket::async_test]
async fn the_catalogue_refuses_strangers_and_names_each_bad_field() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let other = app.seed_org("other").await;
    let lead = app.member(&org, "Lars", Role::TeamLead, None).await;
    let id = item(&app, &org, hoodie(30, None, false)).await;
    let path = format!("{ITEMS}/{id}");

    app.anon_post(ITEMS, hoodie(30, None, false))
        .await
        .problem(401);
    app.request(rocket::http::Method::Get, ITEMS, None, None)
        .await
        .problem(401);
    app.post(ITEMS, &lead.token, hoodie(30, None, false))
        .await
        .problem(403);
    app.patch(&path, &lead.token, json!({ "active": false }))
        .await
        .problem(403);
    // Another organisation's item is no item at all.
    let missing = app
        .get(&format!("{ITEMS}/{}", Uuid::new_v4()), &other.admin.token)
        .await;
    let foreign = app.get(&path, &other.admin.token).await;
    foreign.problem(404);
    same_problem(&missing, &foreign);
    app.patch(&path, &other.admin.token, json!({ "active": false }))
        .await
        .problem(404);
    redeem(&app, &other.admin.token, id).await.problem(404);
    app.get(&format!("{ITEMS}/not-an-id"), &org.admin.token)
        .await
        .problem(404);

    let bad = app
        .post(
            ITEMS,
            &org.admin.token,
            json!({ "title": " ", "point_cost": 0, "stock": -1, "image_url": "javascript:alert(1)" }),
        )
        .await;
    for field in ["title", "point_cost", "stock", "image_url"] {
        bad.invalid_field(field);
    }
    app.post(
        ITEMS,
        &org.admin.token,
        json!({ "description": "no title" }),
    )
    .await
    .invalid_field("title");
    app.post(ITEMS, &org.admin.token, json!({ "title": "No cost" }))
        .await
        .invalid_field("point_cost");
    for url in [
        "ftp://shop.example/a.png",
        "https://",
        "https:///a.png",
        "https://shop.example/a b.png",
        "https://me@shop.example/a.png",
        "shop.example/a.png",
    ] {
        app.patch(&path, &org.admin.token, json!({ "image_url": url }))
            .await
            .invalid_field("image_url");
    }
    let long = format!("https://shop.example/{}", "a".repeat(2048));
    app.patch(&path, &org.admin.token, json!({ "image_url": long }))
        .await
        .invalid_field("image_url");
    let r = app
        .patch(
            &path,
            &org.admin.token,
            json!({ "image_url": "HTTPS://Shop.example/A.png" }),
        )
        .await;
    assert_eq!(r.ok()["image_url"], "https://Shop.example/A.png");
    for (field, value) in [
        ("point_cost", json!(1_000_001)),
        ("point_cost", json!(1.5)),
        ("stock", json!(1_000_001)),
        ("title", json!("x".repeat(201))),
        ("title", json!("tab\there")),
        ("description", json!("x".repeat(2001))),
        ("active", json!("yes")),
    ] {
        app.patch(&path, &org.admin.token, json!({ field: value }))
            .await
            .invalid_field(field);
    }
    app.patch(&path, &org.admin.token, json!({ "colour": "red" }))
        .await
        .problem(422);
    app.get(&format!("{ITEMS}?include_inactive=maybe"), &org.admin.token)
        .await
        .invalid_field("include_inactive");
    app.get(&format!("{ITEMS}?limit=0"), &org.admin.token)
        .await
        .invalid_field("limit");
}

/// Spending lowers what a member may spend, never what they earned: the boards, levels and
/// exports go on counting what was earned, and a rebuild of the boards agrees.
#[rocket::async_test]
async fn redeeming_spends_points_but_leaves_what_was_earned() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let team = app.team(&org, "Care").await;
    let ana = app.member(&org, "Ana", Role::Employee, Some(team)).await;
    give(&app, &org, ana.id, 100).await;
    let id = item(&app, &org, hoodie(30, Some(2), false)).await;
    let board = "/api/v1/leaderboards/members?period=all";
    let before = app.get(board, &ana.token).await.ok()["me"].clone();

    let r = redeem(&app, &ana.token, id).await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    assert_eq!(r.body["status"], "approved", "no approval needed");
    assert_eq!(r.body["points"], 30);
    assert_eq!(r.body["member"]["id"], ana.id.to_string());
    assert_eq!(r.body["item"]["title"], "Frontline hoodie");
    assert_eq!(r.body["refund_entry_id"], Value::Null);

    let mine = points(&app, &ana.token).await;
    assert_eq!((mine.balance, mine.spendable, mine.earned), (70, 70, 100));
    let debit = &mine.entries[0];
    assert_eq!(debit.reason, "redemption");
    assert_eq!(debit.points, -30);
    assert_eq!(debit.source_type.as_deref(), Some("redemption"));
    assert_eq!(debit.source_id, Some(id_of(&r.body)));
    assert_eq!(debit.id.to_string(), r.body["entry_id"].as_str().unwrap());
    let progress = app.get("/api/v1/me/progress", &ana.token).await;
    assert_eq!(progress.ok()["earned"], 100);
    assert_eq!(progress.body["spendable"], 70);
    assert_eq!(progress.body["balance"], 70);
    assert_eq!(progress.body["lifetime_points"], 100);
    let stock = app.get(&format!("{ITEMS}/{id}"), &ana.token).await;
    assert_eq!(stock.ok()["stock"], 1);

    // The boards did not move, and a rebuild from the ledger says the same.
    let after = app.get(board, &ana.token).await.ok()["me"].clone();
    assert_eq!(after["points"], 100);
    assert_eq!(before["points"], after["points"]);
    let teams = app
        .get("/api/v1/leaderboards/teams?period=all", &ana.token)
        .await;
    assert_eq!(teams.ok()["my_team"]["points"], 100);
    rebuild_boards(&app, &org).await;
    app.let_boards_catch_up();
    assert_eq!(app.get(board, &ana.token).await.ok()["me"]["points"], 100);

    // The export's points earned leave the spending out too.
    let export = app
        .get("/api/v1/exports/engagement?format=json", &org.admin.token)
        .await;
    let earned: i64 = export
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["member_id"] == ana.id.to_string())
        .map(|row| {
            let cell = &row["points_earned"];
            cell.as_i64()
                .or_else(|| cell.as_str().and_then(|s| s.parse().ok()))
                .unwrap()
        })
        .sum();
    assert_eq!(earned, 100, "{}", export.text);

    // What is left does not buy more than it pays for: 70 - 20 - 30 = 20 < 30.
    give(&app, &org, ana.id, -20).await;
    let second = redeem(&app, &ana.token, id).await;
    assert_eq!(second.status, Status::Created, "{}", second.text);
    let broke = redeem(
        &app,
        &ana.token,
        item(&app, &org, hoodie(30, None, false)).await,
    )
    .await;
    let problem = broke.problem(409);
    assert_eq!(problem["point_cost"], 30);
    assert_eq!(problem["spendable"], 20);
    assert_eq!(points(&app, &ana.token).await.spendable, 20);
    // The spent-out item: out of stock.
    give(&app, &org, ana.id, 100).await;
    let out = redeem(&app, &ana.token, id).await;
    assert_eq!(out.problem(409)["stock"], 0);
    // A redemption's entry is not the ledger's to reverse.
    let r = app
        .post(
            &format!("/api/v1/ledger/{}/reverse", debit.id),
            &org.admin.token,
            json!({ "reason": "oops" }),
        )
        .await;
    r.problem(409);
}

/// requested -> approved -> fulfilled, declined and cancelled with their refunds, each
/// refused from a status it cannot start from, and who may do what.
#[rocket::async_test]
async fn redemptions_move_through_their_statuses_and_refunds_come_once() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let other = app.seed_org("other").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let lead = app.member(&org, "Lars", Role::TeamLead, None).await;
    give(&app, &org, ana.id, 500).await;
    let lunch = item(&app, &org, hoodie(100, Some(5), true)).await;
    let stock = async |app: &TestApp| {
        app.get(&format!("{ITEMS}/{lunch}"), &org.admin.token)
            .await
            .ok()["stock"]
            .as_i64()
            .unwrap()
    };

    // Cancelled by the member while requested: refunded and restocked.
    let first = redeem(&app, &ana.token, lunch).await;
    assert_eq!(first.ok()["status"], "requested");
    let first = first.body["id"].clone();
    assert_eq!(stock(&app).await, 4);
    assert_eq!(points(&app, &ana.token).await.spendable, 400);
    app.post_empty(&format!("{}/cancel", redemption(&first)), &ben.token)
        .await
        .problem(403);
    app.get(&redemption(&first), &ben.token).await.problem(403);
    let cancelled = app
        .post_empty(&format!("{}/cancel", redemption(&first)), &ana.token)
        .await;
    assert_eq!(cancelled.ok()["status"], "cancelled");
    assert_eq!(cancelled.body["cancelled_by"], ana.id.to_string());
    let mine = points(&app, &ana.token).await;
    assert_eq!((mine.spendable, mine.earned), (500, 500));
    let refund = &mine.entries[0];
    assert_eq!((refund.reason.as_str(), refund.points), ("redemption", 100));
    assert_eq!(
        refund.reverses.map(|r| r.to_string()),
        cancelled.body["entry_id"].as_str().map(str::to_string)
    );
    assert_eq!(cancelled.body["refund_entry_id"], refund.id.to_string());
    assert_eq!(stock(&app).await, 5);
    let again = app
        .post_empty(&format!("{}/cancel", redemption(&first)), &ana.token)
        .await;
    assert_eq!(again.problem(409)["current_status"], "cancelled");
    app.post(
        &format!("{}/decline", redemption(&first)),
        &org.admin.token,
        json!({ "reason": "too late" }),
    )
    .await
    .problem(409);
    app.post(
        &format!("/api/v1/ledger/{}/reverse", refund.id),
        &org.admin.token,
        json!({ "reason": "twice?" }),
    )
    .await
    .problem(409);

    // Approved, then fulfilled; neither undone by the member.
    let second = redeem(&app, &ana.token, lunch).await.ok()["id"].clone();
    let act = |id: &Value, verb: &str| format!("{}/{verb}", redemption(id));
    app.post_empty(&act(&second, "approve"), &lead.token)
        .await
        .problem(403);
    app.post_empty(&act(&second, "approve"), &other.admin.token)
        .await
        .problem(404);
    app.post_empty(&act(&second, "fulfil"), &org.admin.token)
        .await
        .problem(409);
    let approved = app
        .post_empty(&act(&second, "approve"), &org.admin.token)
        .await;
    assert_eq!(approved.ok()["status"], "approved");
    assert_eq!(approved.body["decided_by"], org.admin.id.to_string());
    app.post_empty(&act(&second, "cancel"), &ana.token)
        .await
        .problem(409);
    let fulfilled = app
        .post_empty(&act(&second, "fulfil"), &org.admin.token)
        .await;
    assert_eq!(fulfilled.ok()["status"], "fulfilled");
    app.post_empty(&act(&second, "cancel"), &org.admin.token)
        .await
        .problem(409);

    // Declined with a reason: refunded; the reason is the member's to read.
    let third = redeem(&app, &ana.token, lunch).await.ok()["id"].clone();
    app.post(
        &act(&third, "decline"),
        &org.admin.token,
        json!({ "reason": "" }),
    )
    .await
    .invalid_field("reason");
    app.post(&act(&third, "decline"), &org.admin.token, json!({}))
        .await
        .invalid_field("reason");
    app.post(
        &act(&third, "decline"),
        &lead.token,
        json!({ "reason": "no" }),
    )
    .await
    .problem(403);
    let declined = app
        .post(
            &act(&third, "decline"),
            &org.admin.token,
            json!({ "reason": "Peak season" }),
        )
        .await;
    assert_eq!(declined.ok()["status"], "declined");
    let shown = app.get(&redemption(&third), &ana.token).await;
    assert_eq!(shown.ok()["decline_reason"], "Peak season");
    assert!(shown.body["refund_entry_id"].is_string());

    // An admin cancels an approved one (the member could not): refunded.
    let fourth = redeem(&app, &ana.token, lunch).await.ok()["id"].clone();
    app.post_empty(&act(&fourth, "approve"), &org.admin.token)
        .await
        .ok();
    let withdrawn = app
        .post_empty(&act(&fourth, "cancel"), &org.admin.token)
        .await;
    assert_eq!(withdrawn.ok()["status"], "cancelled");
    assert_eq!(
        points(&app, &ana.token).await.spendable,
        400,
        "only the fulfilled one is spent"
    );
    assert_eq!(stock(&app).await, 4);
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM ledger_entries WHERE organisation_id = $1 AND reason = 'redemption' AND points > 0", org.id).await,
        3,
        "three refunds"
    );

    // The queue and the member's own list.
    let queue = app
        .get(
            "/api/v1/rewards/redemptions?status=fulfilled",
            &org.admin.token,
        )
        .await;
    let listed = queue.ok()["items"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], second);
    let (all, _) = all_pages(
        &app,
        "/api/v1/rewards/redemptions?limit=1",
        "items",
        &org.admin.token,
    )
    .await;
    let order: Vec<Value> = all.iter().map(|r| r["id"].clone()).collect();
    assert_eq!(
        order,
        [first.clone(), second.clone(), third.clone(), fourth.clone()],
        "oldest first"
    );
    let (mine, _) = all_pages(&app, "/api/v1/me/redemptions?limit=3", "items", &ana.token).await;
    let order: Vec<Value> = mine.iter().map(|r| r["id"].clone()).collect();
    assert_eq!(order, [fourth, third, second, first], "newest first");
    let bens = app.get("/api/v1/me/redemptions", &ben.token).await;
    assert!(bens.ok()["items"].as_array().unwrap().is_empty());
    let by_member = app
        .get(
            &format!(
                "/api/v1/rewards/redemptions?member_id={}&item_id={lunch}",
                ben.id
            ),
            &org.admin.token,
        )
        .await;
    assert!(by_member.ok()["items"].as_array().unwrap().is_empty());
    app.get("/api/v1/rewards/redemptions", &ana.token)
        .await
        .problem(403);
    app.get("/api/v1/rewards/redemptions?status=lost", &org.admin.token)
        .await
        .invalid_field("status");
    app.get("/api/v1/me/redemptions?status=lost", &ana.token)
        .await
        .invalid_field("status");
    app.get(
        "/api/v1/rewards/redemptions?member_id=nobody",
        &org.admin.token,
    )
    .await
    .invalid_field("member_id");
    app.get(
        &redemption(&json!(Uuid::new_v4().to_string())),
        &org.admin.token,
    )
    .await
    .problem(404);

    // Every change is in the audit log.
    for action in [
        "redemption_requested",
        "redemption_approved",
        "redemption_declined",
        "redemption_fulfilled",
        "redemption_cancelled",
    ] {
        let audit = app
            .get(&format!("/api/v1/audit?action={action}"), &org.admin.token)
            .await;
        assert!(
            !audit.ok()["items"].as_array().unwrap().is_empty(),
            "no {action}"
        );
    }
}

/// The same key and path replay the first redemption instead of paying twice.
#[rocket::async_test]
async fn a_retried_redemption_with_its_key_is_replayed() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    give(&app, &org, ana.id, 100).await;
    let id = item(&app, &org, hoodie(30, None, false)).await;
    let other = item(&app, &org, hoodie(20, None, false)).await;
    let send = |item: Uuid, key: &'static str| {
        app.client
            .post(format!("{ITEMS}/{item}/redemptions"))
            .header(Header::new(
                "Authorization",
                format!("Bearer {}", ana.token),
            ))
            .header(Header::new("Idempotency-Key", key))
            .dispatch()
    };
    let first = read(send(id, "hoodie-1").await).await;
    assert_eq!(first.status, Status::Created, "{}", first.text);
    let retry = read(send(id, "hoodie-1").await).await;
    assert_eq!(retry.status, Status::Created);
    assert_eq!(retry.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(retry.body, first.body);
    read(send(other, "hoodie-1").await)
        .await
        .invalid_field("Idempotency-Key");
    assert_eq!(points(&app, &ana.token).await.spendable, 70);
}

/// Two admins (or an admin and the member) acting on one redemption at once: one change wins,
/// the others answer 409, and the refund is written once.
#[rocket::async_test]
async fn racing_changes_of_one_redemption_refund_it_once() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    give(&app, &org, ana.id, 100).await;
    let id = item(&app, &org, hoodie(40, Some(1), true)).await;
    let r = redeem(&app, &ana.token, id).await;
    let path = redemption(&r.ok()["id"]);
    let requests = (0..20).map(|i| {
        let (verb, token, body) = match i % 3 {
            0 => ("cancel", &ana.token, None),
            1 => ("approve", &org.admin.token, None),
            _ => (
                "decline",
                &org.admin.token,
                Some(json!({ "reason": "no" }).to_string()),
            ),
        };
        let mut req = app
            .client
            .post(format!("{path}/{verb}"))
            .header(Header::new("Authorization", format!("Bearer {token}")));
        if let Some(body) = body {
            req = req.header(ContentType::JSON).body(body);
        }
        req.dispatch()
    });
    let responses = futures::future::join_all(requests).await;
    let mut ok = 0;
    for r in responses {
        match r.status() {
            Status::Ok => ok += 1,
            Status::Conflict => {}
            other => panic!("unexpected {other}: {:?}", r.into_string().await),
        }
    }
    assert_eq!(ok, 1, "exactly one change wins");
    let refunds = count(
        &app,
        "SELECT count(*) AS n FROM ledger_entries WHERE organisation_id = $1 AND reason = 'redemption' AND points > 0",
        org.id,
    )
    .await;
    let now = app.get(&path, &ana.token).await.ok()["status"].clone();
    let refunded = now == "cancelled" || now == "declined";
    assert_eq!(refunds, i64::from(refunded), "{now}");
    let mine = points(&app, &ana.token).await;
    assert_eq!(mine.spendable, if refunded { 100 } else { 60 });
}

/// The acceptance race, through two real server processes: 100 redemptions at once of an item
/// with a stock of 5, by 100 members who can all pay. Exactly 5 succeed, the others answer
/// 409; the stock ends at 0 with exactly 5 debits in the ledger.
#[rocket::async_test]
async fn a_hundred_racing_redemptions_of_five_in_stock_redeem_five() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let mut members = Vec::new();
    for n in 0..100 {
        members.push(
            app.member(&org, &format!("Member {n}"), Role::Employee, None)
                .await,
        );
    }
    let mut conn = app.db.conn().await;
    diesel::sql_query(
        "INSERT INTO ledger_entries (organisation_id, member_id, points, reason, note, created_by) \
         SELECT organisation_id, id, 50, 'adjustment', 'race', $2 FROM members \
         WHERE organisation_id = $1 AND role = 'employee'",
    )
    .bind::<diesel::sql_types::Uuid, _>(org.id)
    .bind::<diesel::sql_types::Uuid, _>(org.admin.id)
    .execute(&mut conn)
    .await
    .unwrap();
    let id = item(&app, &org, hoodie(30, Some(5), false)).await;
    let env = [
        ("FRONTLINE_DB_POOL_SIZE", "8"),
        ("FRONTLINE_DB_POOL_WAIT_MS", "60000"),
    ];
    let (a, b) = tokio::join!(
        Server::start_with(&app.db.url, &env),
        Server::start_with(&app.db.url, &env)
    );
    let path = format!("{ITEMS}/{id}/redemptions");
    let requests = members.iter().enumerate().map(|(n, m)| {
        let port = if n % 2 == 0 { a.port } else { b.port };
        let (path, token) = (path.clone(), m.token.clone());
        async move { send_to(port, "POST", &path, Some(&token), None, &[]).await }
    });
    let replies = futures::future::join_all(requests).await;
    let mut statuses = std::collections::BTreeMap::new();
    for reply in replies {
        let reply = reply.expect("every request is answered");
        *statuses.entry(reply.status).or_insert(0) += 1;
        assert!(
            matches!(reply.status, 201 | 409),
            "{}: {}",
            reply.status,
            reply.body
        );
    }
    assert_eq!(statuses.get(&201), Some(&5), "{statuses:?}");
    assert_eq!(statuses.get(&409), Some(&95), "{statuses:?}");
    let shown = app.get(&format!("{ITEMS}/{id}"), &org.admin.token).await;
    assert_eq!(shown.ok()["stock"], 0);
    let debits = count(
        &app,
        "SELECT count(*) AS n FROM ledger_entries WHERE organisation_id = $1 AND reason = 'redemption'",
        org.id,
    )
    .await;
    assert_eq!(debits, 5);
    let rows = count(
        &app,
        "SELECT count(*) AS n FROM redemptions WHERE organisation_id = $1",
        org.id,
    )
    .await;
    assert_eq!(rows, 5);
}

/// One member, two items that each cost more than half of what they have, many requests for
/// both at once through two server processes: at most one is redeemed, and what they may spend
/// never goes below zero.
#[rocket::async_test]
async fn one_member_racing_two_items_they_cannot_both_afford_gets_one() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    give(&app, &org, ana.id, 100).await;
    let cheap = item(&app, &org, hoodie(60, None, false)).await;
    let dear = item(&app, &org, hoodie(70, None, false)).await;
    let (a, b) = tokio::join!(Server::start(&app.db.url), Server::start(&app.db.url));
    let requests = (0..20).map(|n| {
        let port = if n % 2 == 0 { a.port } else { b.port };
        let item = if n % 4 < 2 { cheap } else { dear };
        let (path, token) = (format!("{ITEMS}/{item}/redemptions"), ana.token.clone());
        async move { send_to(port, "POST", &path, Some(&token), None, &[]).await }
    });
    let replies = futures::future::join_all(requests).await;
    let mut created = Vec::new();
    for reply in replies {
        let reply = reply.expect("every request is answered");
        match reply.status {
            201 => created.push(reply.body["points"].as_i64().unwrap()),
            409 => {}
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }
    assert_eq!(created.len(), 1, "{created:?}");
    let mine = points(&app, &ana.token).await;
    assert_eq!(mine.spendable, 100 - created[0]);
    assert!(mine.spendable >= 0);
    assert_eq!(mine.earned, 100);
}
