//! Ring detection (`GET /api/v1/integrity/rings`): planted rings are found with their
//! evidence, nothing else is, and only admins may look.
//!
//! The small test gives through the API; the large ones seed `bench/rings_seed.sql` (the
//! benchmark's seed) straight into the database and check that exactly the planted rings come
//! back: no decoy and nothing from the noise. They print the detection statement's database
//! time (run them with `--nocapture` to see it); speed is asserted nowhere, it is
//! `scripts/bench-rings`' figure.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use frontline::auth::Role;
use frontline::integrity::Thresholds;
use frontline::integrity::queries::{self, DominantEdge};
use rocket::http::{Method, Status};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{Actor, Org, TestApp};

const RINGS: &str = "/api/v1/integrity/rings";
const SEED: &str = include_str!("../../bench/rings_seed.sql");

/// Let peers give as much as the test needs in one day.
async fn generous_rules(app: &TestApp, org: &Org) {
    let r = app
        .patch(
            "/api/v1/organisation/point-rules",
            &org.admin.token,
            json!({ "peer_monthly_allowance": 100000, "peer_daily_cap_per_recipient": 100000 }),
        )
        .await;
    r.ok();
}

/// `giver` recognises `to`, `times` times, with `points` each; the recognitions' times.
async fn give(
    app: &TestApp,
    giver: &Actor,
    to: &[&Actor],
    points: i64,
    times: usize,
) -> Vec<String> {
    let mut at = Vec::new();
    for _ in 0..times {
        let r = app
            .post(
                "/api/v1/recognitions",
                &giver.token,
                json!({
                    "recipients": to.iter().map(|a| a.id).collect::<Vec<_>>(),
                    "message": "Thanks for covering that customer call",
                    "points": points,
                }),
            )
            .await;
        assert_eq!(r.status, Status::Created, "{}", r.text);
        at.push(r.body["created_at"].as_str().unwrap().to_string());
    }
    at
}

/// The rings of an answer, each as the set of its members' display names.
fn rings_by_name(report: &Value) -> BTreeSet<BTreeSet<String>> {
    report["rings"]
        .as_array()
        .expect("rings")
        .iter()
        .map(|ring| {
            ring["members"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["display_name"].as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

fn names(rings: &[&[&str]]) -> BTreeSet<BTreeSet<String>> {
    rings
        .iter()
        .map(|r| r.iter().map(|n| n.to_string()).collect())
        .collect()
}

/// The ring whose members have these names.
fn ring_of<'a>(report: &'a Value, members: &[&str]) -> &'a Value {
    let wanted: BTreeSet<String> = members.iter().map(|n| n.to_string()).collect();
    report["rings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["members"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["display_name"].as_str().unwrap().to_string())
                .collect::<BTreeSet<_>>()
                == wanted
        })
        .unwrap_or_else(|| panic!("no ring of {members:?} in {report}"))
}

/// The edge from `giver` in a ring.
fn edge_from<'a>(ring: &'a Value, giver: &Actor) -> &'a Value {
    ring["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["giver_id"] == json!(giver.id))
        .unwrap_or_else(|| panic!("no edge from {} in {ring}", giver.id))
}

fn instant(raw: &Value) -> chrono::DateTime<chrono::Utc> {
    raw.as_str().unwrap().parse().unwrap()
}

#[rocket::async_test]
async fn rings_planted_pair_and_triangle_are_found_with_their_evidence() {
    let app = TestApp::new().await;
    let org = app.seed_org("rings-small").await;
    generous_rules(&app, &org).await;
    let care = app.team(&org, "Care").await;
    let field = app.team(&org, "Field").await;
    let m = |name: &'static str, team| {
        let (app, org) = (&app, &org);
        async move { app.member(org, name, Role::Employee, Some(team)).await }
    };
    let (ana, ben) = (m("Ana", care).await, m("Ben", field).await);
    let (cai, dag, eli) = (
        m("Cai", care).await,
        m("Dag", care).await,
        m("Eli", field).await,
    );
    let (fia, gus) = (m("Fia", care).await, m("Gus", field).await);
    let (nor, oda, per, liv) = (
        m("Nor", care).await,
        m("Oda", field).await,
        m("Per", care).await,
        m("Liv", field).await,
    );
    let lead = app
        .member(&org, "Lars Lead", Role::TeamLead, Some(care))
        .await;

    // Ana <-> Ben: Ana gives Ben 3 x 20 (and Nor 20): 75% of her 80 points.
    let ana_to_ben = give(&app, &ana, &[&ben], 20, 3).await;
    give(&app, &ana, &[&nor], 20, 1).await;
    // Ben gives Ana 4 x 10, and once Ana and Oda together (10 each): Ana 50 of his 60 points,
    // in 5 recognitions.
    let mut ben_to_ana = give(&app, &ben, &[&ana], 10, 4).await;
    ben_to_ana.extend(give(&app, &ben, &[&ana, &oda], 10, 1).await);
    // Cai -> Dag -> Eli -> Cai, 3 x 15 each; Cai also gives Nor 10 (45 of 55: 81.8%).
    give(&app, &cai, &[&dag], 15, 3).await;
    give(&app, &dag, &[&eli], 15, 3).await;
    give(&app, &eli, &[&cai], 15, 3).await;
    give(&app, &cai, &[&nor], 10, 1).await;
    // Fia <-> Gus once each, whole allowance or not: one recognition is no pattern.
    give(&app, &fia, &[&gus], 50, 1).await;
    give(&app, &gus, &[&fia], 50, 1).await;
    // Per <-> Liv, 3 x 5 each way: 15 points, under the default minimum of 30.
    give(&app, &per, &[&liv], 5, 3).await;
    give(&app, &liv, &[&per], 5, 3).await;
    // A lead's recognitions spend a budget, not an allowance: Lars -> Ana never counts, and
    // Ana's giving is unchanged by it.
    give(&app, &lead, &[&ana], 30, 3).await;
    // Noise: single recognitions.
    give(&app, &nor, &[&oda], 10, 1).await;
    give(&app, &oda, &[&nor], 10, 1).await;
    give(&app, &nor, &[&per], 10, 1).await;

    // Another organisation's ring is not this one's business.
    let other = app.seed_org("rings-other").await;
    generous_rules(&app, &other).await;
    let (xan, yva) = (
        app.member(&other, "Xan", Role::Employee, None).await,
        app.member(&other, "Yva", Role::Employee, None).await,
    );
    give(&app, &xan, &[&yva], 20, 3).await;
    give(&app, &yva, &[&xan], 20, 3).await;

    let r = app.get(RINGS, &org.admin.token).await;
    let report = r.ok().clone();
    assert_eq!(
        rings_by_name(&report),
        names(&[&["Ana", "Ben"], &["Cai", "Dag", "Eli"]]),
        "{report:#}"
    );
    assert_eq!(report["truncated"], false);
    assert_eq!(report["max_ring_size"], 4);
    assert_eq!(
        report["thresholds"],
        json!({ "min_share_percent": 50, "min_recognitions": 3, "min_points": 30 })
    );
    // The window: the last 90 days in Oslo, through today.
    let from: chrono::NaiveDate = report["window"]["from"].as_str().unwrap().parse().unwrap();
    let to: chrono::NaiveDate = report["window"]["to"].as_str().unwrap().parse().unwrap();
    assert_eq!((to - from).num_days(), 90);
    assert_eq!(report["window"]["time_zone"], "Europe/Oslo");
    // Highest score first: the triangle (135 points x 81.8%) before the pair (110 x 75%).
    assert_eq!(report["rings"][0]["size"], 3);
    assert_eq!(report["rings"][0]["points"], 135);
    assert_eq!(report["rings"][0]["weakest_share_percent"], 81.8);
    assert_eq!(report["rings"][0]["score"], 110.4);

    let pair = ring_of(&report, &["Ana", "Ben"]);
    assert_eq!(pair["size"], 2);
    assert_eq!(pair["points"], 110);
    assert_eq!(pair["weakest_share_percent"], 75.0);
    assert_eq!(pair["score"], 82.5);
    // Members in ring order from the smallest id; each edge from a member to the next.
    let first = pair["members"][0]["id"].as_str().unwrap();
    assert_eq!(first, ana.id.min(ben.id).to_string());
    for (i, member) in pair["members"].as_array().unwrap().iter().enumerate() {
        assert_eq!(pair["edges"][i]["giver_id"], member["id"]);
        assert_eq!(
            pair["edges"][i]["recipient_id"],
            pair["members"][(i + 1) % 2]["id"]
        );
    }
    let ana_view = pair["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == json!(ana.id))
        .unwrap();
    assert_eq!(ana_view["given_points"], 80);
    assert_eq!(ana_view["team_id"], json!(care));
    assert_eq!(ana_view["team_name"], "Care");
    assert_eq!(ana_view["deactivated"], false);
    let e = edge_from(pair, &ana);
    assert_eq!(e["recipient_id"], json!(ben.id));
    assert_eq!((&e["points"], &e["recognitions"]), (&json!(60), &json!(3)));
    assert_eq!(e["share_percent"], 75.0);
    assert_eq!(instant(&e["first_at"]), instant(&json!(ana_to_ben[0])));
    assert_eq!(instant(&e["last_at"]), instant(&json!(ana_to_ben[2])));
    let e = edge_from(pair, &ben);
    assert_eq!((&e["points"], &e["recognitions"]), (&json!(50), &json!(5)));
    assert_eq!(e["share_percent"], 83.3);
    assert_eq!(instant(&e["last_at"]), instant(&json!(ben_to_ana[4])));
    let ben_view = &pair["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == json!(ben.id))
        .unwrap();
    assert_eq!(ben_view["given_points"], 60);

    let triangle = ring_of(&report, &["Cai", "Dag", "Eli"]);
    assert_eq!(edge_from(triangle, &cai)["recipient_id"], json!(dag.id));
    assert_eq!(edge_from(triangle, &dag)["recipient_id"], json!(eli.id));
    assert_eq!(edge_from(triangle, &eli)["recipient_id"], json!(cai.id));
    assert_eq!(edge_from(triangle, &cai)["share_percent"], 81.8);
    assert_eq!(edge_from(triangle, &dag)["share_percent"], 100.0);

    // Thresholds are the caller's to choose: Per <-> Liv has 15 points each way.
    let r = app
        .get(&format!("{RINGS}?min_points=15"), &org.admin.token)
        .await;
    assert_eq!(
        rings_by_name(r.ok()),
        names(&[&["Ana", "Ben"], &["Cai", "Dag", "Eli"], &["Per", "Liv"]])
    );
    // Ana's edge carries 75%: above 80% it no longer counts, and the pair is no ring.
    let r = app
        .get(&format!("{RINGS}?min_share_percent=80"), &org.admin.token)
        .await;
    assert_eq!(rings_by_name(r.ok()), names(&[&["Cai", "Dag", "Eli"]]));
    // Ben gave Ana 5 recognitions, Ana gave Ben 3.
    let r = app
        .get(&format!("{RINGS}?min_recognitions=4"), &org.admin.token)
        .await;
    assert_eq!(rings_by_name(r.ok()), BTreeSet::new());
    // A window without this activity finds nothing.
    let r = app
        .get(
            &format!("{RINGS}?from=2025-01-01&to=2025-12-31"),
            &org.admin.token,
        )
        .await;
    let body = r.ok();
    assert_eq!(
        (&body["rings"], &body["dominant_edges"]),
        (&json!([]), &json!(0))
    );
    assert_eq!(body["window"]["from"], "2025-01-01");
    // The other organisation's admin sees only its own ring.
    let r = app.get(RINGS, &other.admin.token).await;
    assert_eq!(rings_by_name(r.ok()), names(&[&["Xan", "Yva"]]));

    // Reading changes nothing: the recognitions and the ledger are as they were.
    let again = app.get(RINGS, &org.admin.token).await;
    assert_eq!(again.ok()["rings"], report["rings"]);
}

#[rocket::async_test]
async fn rings_only_admins_may_look() {
    let app = TestApp::new().await;
    let org = app.seed_org("rings-roles").await;
    let team = app.team(&org, "Care").await;
    let anon = app.request(Method::Get, RINGS, None, None).await;
    anon.problem(401);
    for (name, role, team) in [
        ("Emma Employee", Role::Employee, Some(team)),
        ("Tor Lead", Role::TeamLead, Some(team)),
        ("Hedda HR", Role::Hr, None),
    ] {
        let who = app.member(&org, name, role, team).await;
        app.get(RINGS, &who.token).await.problem(403);
    }
    app.get(RINGS, &org.admin.token).await.ok();
}

#[rocket::async_test]
async fn rings_refuse_bad_parameters_naming_them() {
    let app = TestApp::new().await;
    let org = app.seed_org("rings-params").await;
    let token = &org.admin.token;
    for (query, field) in [
        ("days=0", "days"),
        ("days=367", "days"),
        ("days=ninety", "days"),
        ("days=30&from=2026-01-01&to=2026-02-01", "days"),
        ("from=2026-01-01", "to"),
        ("to=2026-01-01", "from"),
        ("from=2026-13-01&to=2026-12-01", "from"),
        ("from=2026-02-01&to=2026-02-01", "to"),
        ("from=2025-01-01&to=2026-01-03", "to"),
        ("min_share_percent=19", "min_share_percent"),
        ("min_share_percent=101", "min_share_percent"),
        ("min_recognitions=1", "min_recognitions"),
        ("min_points=-1", "min_points"),
        ("days=30&days=60", "days"),
    ] {
        app.get(&format!("{RINGS}?{query}"), token)
            .await
            .invalid_field(field);
    }
    // The widest window and the bounds themselves are accepted.
    for query in [
        "days=366",
        "days=1",
        "from=2025-01-01&to=2026-01-02",
        "min_share_percent=20&min_recognitions=2&min_points=0",
        "min_share_percent=100&min_recognitions=1000&min_points=1000000",
    ] {
        app.get(&format!("{RINGS}?{query}"), token).await.ok();
    }
}

// ---- Planted rings in a large seeded organisation -------------------------------------------

/// Seed `bench/rings_seed.sql` into `org`: `members` in `teams`, `recognitions` over two
/// years ending a minute ago. Returns how long it took.
async fn seed(
    conn: &mut AsyncPgConnection,
    org: &Org,
    members: u32,
    teams: u32,
    recognitions: u32,
) -> Duration {
    let started = Instant::now();
    diesel::sql_query(
        "SELECT set_config('rings.org', $1, false), set_config('rings.slug', $2, false), \
                set_config('rings.members', $3, false), set_config('rings.teams', $4, false), \
                set_config('rings.recognitions', $5, false), set_config('rings.days', '730', false), \
                set_config('rings.end_at', (now() - interval '1 minute')::text, false)",
    )
    .bind::<diesel::sql_types::Text, _>(org.id.to_string())
    .bind::<diesel::sql_types::Text, _>(&org.slug)
    .bind::<diesel::sql_types::Text, _>(members.to_string())
    .bind::<diesel::sql_types::Text, _>(teams.to_string())
    .bind::<diesel::sql_types::Text, _>(recognitions.to_string())
    .execute(conn)
    .await
    .unwrap();
    conn.batch_execute(SEED).await.unwrap();
    conn.batch_execute("VACUUM ANALYZE recognitions, recognition_recipients, members")
        .await
        .unwrap();
    started.elapsed()
}

/// The detection statement's database time over the report's window, as the service runs it
/// (in a transaction with its settings): `runs` times, sorted.
async fn statement_times(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    report: &Value,
    runs: usize,
) -> (Vec<Duration>, Vec<DominantEdge>) {
    let window = (
        instant(&report["window"]["starts_at"]),
        instant(&report["window"]["ends_at"]),
    );
    let thresholds = Thresholds {
        min_share_percent: 50,
        min_recognitions: 3,
        min_points: 30,
    };
    let mut times = Vec::new();
    let mut edges = Vec::new();
    for _ in 0..runs {
        conn.batch_execute("BEGIN").await.unwrap();
        conn.batch_execute(queries::SETTINGS).await.unwrap();
        let started = Instant::now();
        edges = queries::dominant_edges(conn, org, window, &thresholds)
            .await
            .unwrap();
        times.push(started.elapsed());
        conn.batch_execute("COMMIT").await.unwrap();
    }
    times.sort();
    (times, edges)
}

/// The rings planted by the seed (its decoys are not rings).
fn planted() -> BTreeSet<BTreeSet<String>> {
    names(&[
        &["Ringer 1a", "Ringer 1b"],
        &["Ringer 2a", "Ringer 2b"],
        &["Ringer 3a", "Ringer 3b", "Ringer 3c"],
        &["Ringer 4a", "Ringer 4b", "Ringer 4c", "Ringer 4d"],
    ])
}

/// Seed, detect through the API over the default window and the widest, and check that
/// exactly the planted rings come back; print the seeding time and the statement's times.
async fn planted_rings_and_nothing_else(members: u32, teams: u32, recognitions: u32) {
    let app = TestApp::new().await;
    let org = app.seed_org("rings-seeded").await;
    let mut conn = app.db.conn().await;
    let seeded = seed(&mut conn, &org, members, teams, recognitions).await;
    println!(
        "rings: seeded {members} members in {teams} teams with {recognitions} recognitions in {:.1} s",
        seeded.as_secs_f64()
    );
    for query in ["", "?days=366"] {
        let started = Instant::now();
        let r = app.get(&format!("{RINGS}{query}"), &org.admin.token).await;
        let api = started.elapsed();
        let report = r.ok().clone();
        assert_eq!(rings_by_name(&report), planted(), "{query}: {report:#}");
        assert_eq!(report["truncated"], false);
        for ring in report["rings"].as_array().unwrap() {
            for edge in ring["edges"].as_array().unwrap() {
                // 4 a month round the ring, 1 a month elsewhere (+- one at the window's ends).
                let share = edge["share_percent"].as_f64().unwrap();
                assert!((70.0..=90.0).contains(&share), "{edge}");
            }
        }
        let (times, edges) = statement_times(&mut conn, org.id, &report, 5).await;
        // The statement the service ran found the same edges.
        assert_eq!(
            edges.len() as i64,
            report["dominant_edges"].as_i64().unwrap()
        );
        let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
        println!(
            "rings: window {} to {}: {} dominant edges, {} rings; the API answered in {:.0} ms; \
             the detection statement took {:.0} ms (median of {}), {:.0} ms at most",
            report["window"]["from"],
            report["window"]["to"],
            edges.len(),
            report["rings"].as_array().unwrap().len(),
            ms(&api),
            ms(&times[times.len() / 2]),
            times.len(),
            ms(times.last().unwrap()),
        );
    }
}

/// 1,000 members in 10 teams, 100,000 recognitions over two years (a tenth of the target's
/// size, the same shape): in the normal suite.
#[rocket::async_test]
async fn rings_planted_in_100k_recognitions_are_found_and_nothing_else() {
    planted_rings_and_nothing_else(1_000, 10, 100_000).await;
}

/// The target's organisation: 10,000 members in 100 teams, 1,000,000 recognitions over two
/// years (issue #15). Seeding takes 1.5-2 minutes on a 2-CPU machine, so it runs on request:
/// `cargo test --test api rings_planted_in_1m -- --ignored --nocapture`.
#[rocket::async_test]
#[ignore = "seeds 1,000,000 recognitions (1.5-2 minutes); run with --ignored"]
async fn rings_planted_in_1m_recognitions_are_found_and_nothing_else() {
    planted_rings_and_nothing_else(10_000, 100, 1_000_000).await;
}
