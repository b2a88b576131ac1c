//! Boards while points flow (issue 14's freshness contract): a point shows at once, through
//! the process that wrote it, to the members it concerns (who wrote it and whom it paid), and
//! on every board within `board_lag_ms`; the queues of shared board rows change no answer.

use std::time::Duration;

use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use frontline::auth::Role;

use crate::common::TestApp;

fn top(board: &Value) -> Vec<(String, i64)> {
    board["top"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    (
                        r["display_name"]
                            .as_str()
                            .or(r["name"].as_str())
                            .unwrap_or_default()
                            .to_string(),
                        r["points"].as_i64().unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

const BOARDS: [&str; 3] = [
    "/api/v1/leaderboards/members",
    "/api/v1/leaderboards/members?scope=team&around_me=1",
    "/api/v1/leaderboards/teams",
];

#[rocket::async_test]
async fn the_members_a_point_concerns_see_it_at_once_and_everyone_within_the_lag() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let care = app.team(&org, "Care").await;
    let ana = app.member(&org, "Ana", Role::Employee, Some(care)).await;
    let ben = app.member(&org, "Ben", Role::Employee, Some(care)).await;
    let cy = app.member(&org, "Cy", Role::Employee, Some(care)).await;
    // Cy only watches. A state-changing request of another test in this process may drop
    // every cached answer of this one (a collision of member stripes), so one answer out of
    // several rounds that lagged proves the lag; none may lag past it.
    let mut lagged = 0;
    for round in 1..=3 {
        for path in BOARDS {
            for who in [&ana, &ben, &cy] {
                app.get(path, &who.token).await.ok();
            }
        }
        app.post(
            "/api/v1/recognitions",
            &ben.token,
            json!({ "recipients": [ana.id], "message": "thanks", "points": 5 }),
        )
        .await
        .ok();
        let total = 5 * round;
        // Whom it paid, and who gave it: at once.
        for who in [&ana, &ben] {
            let r = app.get(BOARDS[0], &who.token).await;
            assert_eq!(top(r.ok()), vec![("Ana".to_string(), total)]);
            let r = app.get(BOARDS[2], &who.token).await;
            assert_eq!(top(r.ok()), vec![("Care".to_string(), total)]);
        }
        let r = app.get(BOARDS[0], &ana.token).await;
        assert_eq!(r.ok()["me"]["points"], total);
        assert_eq!(r.ok()["me"]["rank"], 1);
        // Cy: the answer cached before the write, for a moment.
        if top(app.get(BOARDS[0], &cy.token).await.ok()) != vec![("Ana".to_string(), total)] {
            lagged += 1;
        }
        // Once the lag has passed (on the service's clock), everyone sees it.
        app.clock.advance(Duration::from_millis(800));
        for path in BOARDS {
            let r = app.get(path, &cy.token).await;
            let expected = if path.contains("teams") {
                "Care"
            } else {
                "Ana"
            };
            assert_eq!(top(r.ok()), vec![(expected.to_string(), total)], "{path}");
        }
    }
    assert!(
        lagged > 0,
        "no watcher's answer lagged a write: the lag is not in use"
    );
}

#[rocket::async_test]
async fn with_no_lag_every_write_shows_on_every_board_at_once() {
    let app = TestApp::with(|f| frontline::config::with_override(f, "board_lag_ms", 0)).await;
    let org = app.seed_org("acme").await;
    let ana = app.member(&org, "Ana", Role::Employee, None).await;
    let ben = app.member(&org, "Ben", Role::Employee, None).await;
    let cy = app.member(&org, "Cy", Role::Employee, None).await;
    for round in 1..=3 {
        app.get(BOARDS[0], &cy.token).await.ok();
        app.post(
            "/api/v1/recognitions",
            &ben.token,
            json!({ "recipients": [ana.id], "message": "thanks", "points": 5 }),
        )
        .await
        .ok();
        let r = app.get(BOARDS[0], &cy.token).await;
        assert_eq!(top(r.ok()), vec![("Ana".to_string(), 5 * round)]);
    }
}

/// The queues of the rows many writers share (a board's histogram, a team's totals) are part of
/// every read: folding them into the totals changes no answer, and leaves them empty.
#[rocket::async_test]
async fn folding_the_queued_board_changes_changes_no_answer() {
    let app = TestApp::with(|f| frontline::config::with_override(f, "read_cache_ttl_ms", 0)).await;
    let org = app.seed_org("acme").await;
    let care = app.team(&org, "Care").await;
    let store = app.team(&org, "Store").await;
    let mut people = Vec::new();
    for (i, name) in ["Ana", "Ben", "Cy", "Di"].iter().enumerate() {
        let team = if i % 2 == 0 { care } else { store };
        people.push(app.member(&org, name, Role::Employee, Some(team)).await);
    }
    let boards = [
        "/api/v1/leaderboards/members?around_me=3",
        "/api/v1/leaderboards/members?scope=team&around_me=3",
        "/api/v1/leaderboards/members?dimension=empathy",
        "/api/v1/leaderboards/teams?around_me=2",
        "/api/v1/leaderboards/teams?metric=per_member",
    ];
    let mut conn = app.db.conn().await;
    for round in 0..3 {
        for i in 0..4 {
            let giver = &people[(i + round) % 4];
            let to = people[(i + round + 1) % 4].id;
            app.post(
                "/api/v1/recognitions",
                &giver.token,
                json!({ "recipients": [to], "message": "thanks", "points": 1 + i, "dimension": "empathy" }),
            )
            .await
            .ok();
        }
        let mut before = Vec::new();
        for path in boards {
            before.push(app.get(path, &people[0].token).await.ok().clone());
        }
        // The server's own fold may have run already; this one takes whatever is left.
        diesel::sql_query("SELECT fold_boards()")
            .execute(&mut conn)
            .await
            .unwrap();
        for (path, was) in boards.iter().zip(&before) {
            assert_eq!(app.get(path, &people[0].token).await.ok(), was, "{path}");
        }
    }
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let queued: Count = diesel::sql_query(
        "SELECT (SELECT count(*) FROM member_points_histogram_pending) \
              + (SELECT count(*) FROM team_period_points_pending) AS n",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(queued.n, 0);
}
