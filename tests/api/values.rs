//! Company values and hashtags: admins keep the values, recognitions carry them (chosen or by
//! hashtag), the organisation's rules (values required, a minimum message, a monthly cap per
//! colleague), and the feed, boards and analytics by value.

use frontline::auth::Role;
use rocket::http::Status;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::*;

fn value(name: &str, hashtag: &str) -> Value {
    json!({ "name": name, "hashtag": hashtag, "description": "What we stand for" })
}

async fn add_value(app: &TestApp, org: &Org, name: &str, hashtag: &str) -> Uuid {
    let r = app
        .post("/api/v1/values", &org.admin.token, value(name, hashtag))
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    id_of(&r.body)
}

fn mid_month(app: &TestApp) {
    use chrono::TimeZone;
    let noon = chrono_tz::Europe::Oslo
        .with_ymd_and_hms(2026, 11, 18, 12, 0, 0)
        .unwrap();
    app.clock.set(noon.with_timezone(&chrono::Utc));
}

#[rocket::async_test]
async fn admins_keep_the_values_and_members_see_the_active_ones() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;

    let r = app
        .post(
            "/api/v1/values",
            &org.admin.token,
            json!({ "name": "Customer first", "hashtag": "#CustomerFirst", "position": 2 }),
        )
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    assert_eq!(r.body["hashtag"], "CustomerFirst", "stored without its '#'");
    assert_eq!(r.body["active"], true);
    let first = id_of(&r.body);
    let own_it = add_value(&app, &org, "Own it", "OwnIt").await;

    // The same hashtag in another case is the same hashtag.
    app.post(
        "/api/v1/values",
        &org.admin.token,
        value("Again", "customerfirst"),
    )
    .await
    .problem(409);
    // Bad input names the field.
    app.post(
        "/api/v1/values",
        &org.admin.token,
        value("Spaced", "two words"),
    )
    .await
    .invalid_field("hashtag");
    app.post("/api/v1/values", &org.admin.token, value(" ", "Blank"))
        .await
        .invalid_field("name");
    app.post(
        "/api/v1/values",
        &org.admin.token,
        json!({ "name": "Far", "hashtag": "Far", "position": 5000 }),
    )
    .await
    .invalid_field("position");
    app.post(
        "/api/v1/values",
        &org.admin.token,
        json!({ "name": "X", "hashtag": "X", "colour": "red" }),
    )
    .await
    .invalid_field("colour");
    // Who may.
    app.post("/api/v1/values", &ana.token, value("Mine", "Mine"))
        .await
        .problem(403);
    app.anon_post("/api/v1/values", value("Anon", "Anon"))
        .await
        .problem(401);

    // Ordered by position, then name; deactivated values are for admins who ask.
    let list = app.get("/api/v1/values", &ana.token).await.ok().clone();
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Own it", "Customer first"]);
    let r = app
        .patch(
            &format!("/api/v1/values/{own_it}"),
            &org.admin.token,
            json!({ "active": false, "description": "Retired" }),
        )
        .await;
    assert_eq!(r.ok()["active"], false);
    let list = app.get("/api/v1/values", &ana.token).await.ok().clone();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let list = app
        .get("/api/v1/values?include_inactive=true", &org.admin.token)
        .await
        .ok()
        .clone();
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    app.get("/api/v1/values?include_inactive=maybe", &org.admin.token)
        .await
        .invalid_field("include_inactive");

    // Renaming onto another's hashtag is a conflict; ids of other organisations are unknown.
    app.patch(
        &format!("/api/v1/values/{own_it}"),
        &org.admin.token,
        json!({ "hashtag": "CUSTOMERFIRST" }),
    )
    .await
    .problem(409);
    let other = app.seed_org("globex").await;
    app.patch(
        &format!("/api/v1/values/{first}"),
        &other.admin.token,
        json!({ "name": "Mine now" }),
    )
    .await
    .problem(404);
    app.patch(
        &format!("/api/v1/values/{first}"),
        &ana.token,
        json!({ "name": "Mine now" }),
    )
    .await
    .problem(403);
    app.patch(
        "/api/v1/values/not-a-uuid",
        &org.admin.token,
        json!({ "name": "X" }),
    )
    .await
    .problem(404);

    // Every change is audited.
    let log = app
        .get("/api/v1/audit?limit=200", &org.admin.token)
        .await
        .ok()
        .clone();
    let actions: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"value_created") && actions.contains(&"value_changed"));
}

#[rocket::async_test]
async fn a_recognition_carries_chosen_values_hashtag_values_and_free_hashtags() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let team = app.team(&org, "Care").await;
    let ana = app.member(&org, "Ana", Role::Employee, Some(team)).await;
    let ben = app.member(&org, "Ben", Role::Employee, Some(team)).await;
    let first = add_value(&app, &org, "Customer first", "CustomerFirst").await;
    let own_it = add_value(&app, &org, "Own it", "OwnIt").await;

    let r = app
        .post(
            "/api/v1/recognitions",
            &ana.token,
            json!({
                "recipients": [ben.id],
                "message": "Took the case from start to finish #ownit #LateDelivery #latedelivery",
                "points": 5,
                "value_ids": [first],
            }),
        )
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    let values: Vec<&str> = r.body["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["hashtag"].as_str().unwrap())
        .collect();
    assert_eq!(values.len(), 2);
    assert!(values.contains(&"CustomerFirst") && values.contains(&"OwnIt"));
    assert_eq!(r.body["hashtags"], json!(["latedelivery"]));
    let id = id_of(&r.body);
    let shown = app
        .get(&format!("/api/v1/recognitions/{id}"), &ben.token)
        .await
        .ok()
        .clone();
    assert_eq!(shown["values"], r.body["values"]);
    assert_eq!(shown["hashtags"], r.body["hashtags"]);

    // Another without values.
    app.post(
        "/api/v1/recognitions",
        &ben.token,
        json!({ "recipients": [ana.id], "message": "Thanks for the cover", "points": 5 }),
    )
    .await
    .ok();

    // The feed by value, and by hashtag (a value's hashtag counts as naming it).
    let feed = |q: String| {
        let app = &app;
        let token = ana.token.clone();
        async move {
            let page = app
                .get(&format!("/api/v1/recognitions?{q}"), &token)
                .await
                .ok()
                .clone();
            page["items"].as_array().unwrap().len()
        }
    };
    assert_eq!(feed(String::new()).await, 2);
    assert_eq!(feed(format!("value_id={own_it}")).await, 1);
    assert_eq!(feed("hashtag=LateDelivery".into()).await, 1);
    assert_eq!(feed("hashtag=%23ownit".into()).await, 1);
    assert_eq!(feed("hashtag=nothing".into()).await, 0);
    app.get("/api/v1/recognitions?hashtag=two%20words", &ana.token)
        .await
        .invalid_field("hashtag");
    app.get("/api/v1/recognitions?value_id=nope", &ana.token)
        .await
        .invalid_field("value_id");

    // Values that cannot be given are named.
    let other = app.seed_org("globex").await;
    let foreign = add_value(&app, &other, "Theirs", "Theirs").await;
    app.patch(
        &format!("/api/v1/values/{own_it}"),
        &org.admin.token,
        json!({ "active": false }),
    )
    .await
    .ok();
    let r = app
        .post(
            "/api/v1/recognitions",
            &ana.token,
            json!({ "recipients": [ben.id], "message": "Well done", "points": 1, "value_ids": [foreign, own_it] }),
        )
        .await;
    r.invalid_field("value_ids[0]");
    r.invalid_field("value_ids[1]");
}

#[rocket::async_test]
async fn organisation_rules_require_values_a_real_message_and_a_monthly_cap() {
    let app = TestApp::new().await;
    mid_month(&app);
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let first = add_value(&app, &org, "Customer first", "CustomerFirst").await;
    let rules = app
        .patch(
            "/api/v1/organisation/point-rules",
            &org.admin.token,
            json!({ "values_required": true, "min_message_length": 20, "peer_monthly_cap_per_recipient": 25, "peer_daily_cap_per_recipient": 20 }),
        )
        .await
        .ok()
        .clone();
    assert_eq!(rules["values_required"], true);
    assert_eq!(rules["min_message_length"], 20);
    app.patch(
        "/api/v1/organisation/point-rules",
        &org.admin.token,
        json!({ "min_message_length": 0 }),
    )
    .await
    .invalid_field("min_message_length");
    app.patch(
        "/api/v1/organisation/point-rules",
        &org.admin.token,
        json!({ "peer_monthly_cap_per_recipient": -1 }),
    )
    .await
    .invalid_field("peer_monthly_cap_per_recipient");

    let give = |message: &str, points: i32, values: Value| json!({ "recipients": [ben.id], "message": message, "points": points, "value_ids": values });
    let long = "You turned an angry caller into a fan";
    app.post("/api/v1/recognitions", &ana.token, give(long, 5, json!([])))
        .await
        .invalid_field("value_ids");
    app.post(
        "/api/v1/recognitions",
        &ana.token,
        give("Thanks!", 5, json!([first])),
    )
    .await
    .invalid_field("message");
    // A value named by its hashtag is enough.
    let r = app
        .post(
            "/api/v1/recognitions",
            &ana.token,
            give(&format!("{long} #customerfirst"), 15, json!([])),
        )
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);

    // 15 given today; tomorrow 10 more would pass the daily cap but not the monthly one.
    app.clock.advance(std::time::Duration::from_secs(86_400));
    let r = app
        .post(
            "/api/v1/recognitions",
            &ana.token,
            give(long, 11, json!([first])),
        )
        .await;
    let p = r.problem(409);
    assert_eq!(p["monthly_cap"], 25);
    assert_eq!(p["given_this_month"], 15);
    app.post(
        "/api/v1/recognitions",
        &ana.token,
        give(long, 10, json!([first])),
    )
    .await
    .ok();
}

#[rocket::async_test]
async fn boards_and_analytics_count_by_value() {
    let app = TestApp::new().await;
    mid_month(&app);
    let org = app.seed_org("acme").await;
    let care = app.team(&org, "Care").await;
    let store = app.team(&org, "Store").await;
    let ana = app.member(&org, "Ana", Role::Employee, Some(care)).await;
    let ben = app.member(&org, "Ben", Role::Employee, Some(care)).await;
    let cy = app.member(&org, "Cy", Role::Employee, Some(store)).await;
    let hr = app.member(&org, "Hilde", Role::Hr, None).await;
    let first = add_value(&app, &org, "Customer first", "CustomerFirst").await;
    let own_it = add_value(&app, &org, "Own it", "OwnIt").await;
    let give = |to: Uuid, points: i32, values: Value| json!({ "recipients": [to], "message": "Great work with that customer", "points": points, "value_ids": values });
    app.post(
        "/api/v1/recognitions",
        &ana.token,
        give(ben.id, 10, json!([first])),
    )
    .await
    .ok();
    app.post(
        "/api/v1/recognitions",
        &ana.token,
        give(cy.id, 7, json!([first, own_it])),
    )
    .await
    .ok();
    app.post(
        "/api/v1/recognitions",
        &cy.token,
        give(ben.id, 20, json!([own_it])),
    )
    .await
    .ok();

    let board = app
        .get(
            &format!("/api/v1/leaderboards/members?value_id={first}"),
            &ana.token,
        )
        .await
        .ok()
        .clone();
    assert_eq!(board["value_id"], first.to_string());
    assert_eq!(board["ranked_members"], 2);
    assert_eq!(board["top"][0]["member_id"], ben.id.to_string());
    assert_eq!(
        board["top"][0]["points"], 10,
        "only the points of that value"
    );
    assert_eq!(board["top"][1]["points"], 7);
    assert_eq!(board["me"]["points"], 0);
    assert_eq!(board["me"]["rank"], 3);
    let teams = app
        .get(
            &format!("/api/v1/leaderboards/teams?value_id={own_it}"),
            &ana.token,
        )
        .await
        .ok()
        .clone();
    assert_eq!(teams["top"][0]["team_id"], care.to_string());
    assert_eq!(teams["top"][0]["points"], 20);
    assert_eq!(teams["top"][1]["points"], 7);
    // A reversed entry leaves the value's board at once.
    let entry = app.get("/api/v1/me/points", &ben.token).await.ok()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["points"] == 10)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post(
        &format!("/api/v1/ledger/{entry}/reverse"),
        &org.admin.token,
        json!({ "reason": "given by mistake" }),
    )
    .await
    .ok();
    app.let_boards_catch_up();
    let board = app
        .get(
            &format!("/api/v1/leaderboards/members?value_id={first}"),
            &ana.token,
        )
        .await
        .ok()
        .clone();
    assert_eq!(board["ranked_members"], 1);
    assert_eq!(board["top"][0]["member_id"], cy.id.to_string());

    // Bad and foreign values.
    app.get(
        &format!("/api/v1/leaderboards/members?value_id={first}&dimension=empathy"),
        &ana.token,
    )
    .await
    .invalid_field("value_id");
    app.get("/api/v1/leaderboards/members?value_id=x", &ana.token)
        .await
        .invalid_field("value_id");
    let other = app.seed_org("globex").await;
    let foreign = add_value(&app, &other, "Theirs", "Theirs").await;
    app.get(
        &format!("/api/v1/leaderboards/members?value_id={foreign}"),
        &ana.token,
    )
    .await
    .problem(404);

    // Analytics: recognitions per value per team.
    let report = app
        .get(
            "/api/v1/analytics/engagement?from=2026-11-01&to=2026-12-01",
            &hr.token,
        )
        .await
        .ok()
        .clone();
    let org_counts = &report["organisation"]["recognitions_by_value"];
    assert_eq!(org_counts["CustomerFirst"], 2);
    assert_eq!(org_counts["OwnIt"], 2);
    let _ = (care, store);
}
