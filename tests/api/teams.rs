//! Teams: create, list, show, rename, archive, and tenant isolation.

use std::collections::HashSet;

use frontline::auth::Role;
use rocket::http::{Method, Status};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::*;

const TEAMS: &str = "/api/v1/teams";

fn team_path(id: impl std::fmt::Display) -> String {
    format!("{TEAMS}/{id}")
}

fn archive_path(id: impl std::fmt::Display) -> String {
    format!("{TEAMS}/{id}/archive")
}

fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("a page has items")
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

/// Every team name of a listing, and how many pages it took.
async fn team_pages(app: &TestApp, token: &str, query: &str) -> (Vec<String>, usize) {
    let (items, pages) = all_pages(app, &format!("{TEAMS}?{query}"), "items", token).await;
    let names = items
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    (names, pages)
}

async fn move_member(app: &TestApp, org: &Org, member: Uuid, team: Uuid) {
    app.post(
        &format!("/api/v1/members/{member}/move"),
        &org.admin.token,
        json!({ "team_id": team }),
    )
    .await
    .ok();
}

// --- create ---------------------------------------------------------------------------------

#[rocket::async_test]
async fn admin_creates_a_team() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;

    let r = app
        .post(TEAMS, &org.admin.token, json!({ "name": "  Support  " }))
        .await;
    assert_eq!(r.status, Status::Created, "{}", r.text);
    assert_eq!(r.body["name"], "Support", "the name is trimmed");
    assert!(r.body["archived_at"].is_null());
    let id = id_of(&r.body);

    let shown = app.get(&team_path(id), &org.admin.token).await;
    assert_eq!(shown.ok()["name"], "Support");
}

#[rocket::async_test]
async fn only_admins_create_teams() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let employee = app
        .member(&org, "Emma Employee", Role::Employee, None)
        .await;
    let hr = app.member(&org, "Hanna Hr", Role::Hr, None).await;
    let lead = app.member(&org, "Lara Lead", Role::TeamLead, None).await;

    for actor in [&employee, &hr, &lead] {
        app.post(TEAMS, &actor.token, json!({ "name": "Rogue" }))
            .await
            .problem(403);
    }
    app.request(Method::Post, TEAMS, None, Some(json!({ "name": "Rogue" })))
        .await
        .problem(401);
    app.post(TEAMS, "garbage", json!({ "name": "Rogue" }))
        .await
        .problem(401);

    let list = app.get(TEAMS, &org.admin.token).await;
    assert!(names(list.ok()).is_empty(), "no team was created");
}

#[rocket::async_test]
async fn a_live_team_name_is_taken_whatever_its_case() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    app.team(&org, "Support").await;

    for name in ["Support", "support", "SUPPORT", " Support "] {
        app.post(TEAMS, &org.admin.token, json!({ "name": name }))
            .await
            .problem(409);
    }
}

#[rocket::async_test]
async fn the_same_team_name_may_exist_in_two_organisations() {
    let app = TestApp::new().await;
    let acme = app.seed_org("acme").await;
    let globex = app.seed_org("globex").await;

    app.team(&acme, "Support").await;
    app.team(&globex, "Support").await;
}

#[rocket::async_test]
async fn an_empty_or_too_long_team_name_is_refused() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;

    for name in [
        String::new(),
        "   ".into(),
        "n".repeat(121),
        "tab\tname".into(),
    ] {
        app.post(TEAMS, &org.admin.token, json!({ "name": name }))
            .await
            .invalid_field("name");
    }
    let r = app
        .post(TEAMS, &org.admin.token, json!({ "name": "n".repeat(120) }))
        .await;
    assert_eq!(
        r.status,
        Status::Created,
        "120 characters is allowed: {}",
        r.text
    );
}

#[rocket::async_test]
async fn a_team_body_with_missing_unknown_or_mistyped_fields_is_refused() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;

    app.post(TEAMS, &org.admin.token, json!({}))
        .await
        .invalid_field("name");
    app.post(TEAMS, &org.admin.token, json!({ "name": 7 }))
        .await
        .invalid_field("name");
    app.post(
        TEAMS,
        &org.admin.token,
        json!({ "name": "Support", "colour": "blue" }),
    )
    .await
    .invalid_field("colour");
}

// --- list -----------------------------------------------------------------------------------

#[rocket::async_test]
async fn any_member_lists_the_teams_sorted_by_name_ignoring_case() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    for name in ["delta", "Bravo", "alpha", "Charlie"] {
        app.team(&org, name).await;
    }
    let employee = app
        .member(&org, "Emma Employee", Role::Employee, None)
        .await;

    let r = app.get(TEAMS, &employee.token).await;
    let body = r.ok();
    assert_eq!(names(body), ["alpha", "Bravo", "Charlie", "delta"]);
    assert!(body["next_cursor"].is_null());
}

#[rocket::async_test]
async fn listing_teams_needs_a_token() {
    let app = TestApp::new().await;
    app.seed_org("acme").await;

    app.request(Method::Get, TEAMS, None, None)
        .await
        .problem(401);
}

#[rocket::async_test]
async fn teams_of_another_organisation_are_never_listed() {
    let app = TestApp::new().await;
    let acme = app.seed_org("acme").await;
    let globex = app.seed_org("globex").await;
    app.team(&acme, "Acme Support").await;
    app.team(&globex, "Globex Support").await;

    let r = app
        .get(&format!("{TEAMS}?include_archived=true"), &acme.admin.token)
        .await;
    assert_eq!(names(r.ok()), ["Acme Support"]);
}

#[rocket::async_test]
async fn team_pages_of_two_follow_next_cursor_without_duplicates_or_gaps() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let mut expected = vec!["Echo", "alpha", "Delta", "bravo", "charlie"];
    for name in &expected {
        app.team(&org, name).await;
    }
    expected.sort_by_key(|n| n.to_lowercase());

    let first = app.get(&format!("{TEAMS}?limit=2"), &org.admin.token).await;
    assert_eq!(names(first.ok()), ["alpha", "bravo"]);
    assert!(first.body["next_cursor"].is_string());

    let (seen, pages) = team_pages(&app, &org.admin.token, "limit=2").await;
    assert_eq!(pages, 3);
    assert_eq!(seen, expected);
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no team appears twice");
}

#[rocket::async_test]
async fn a_full_last_page_has_no_next_cursor_after_it() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    for name in ["a", "b", "c", "d"] {
        app.team(&org, name).await;
    }

    let (seen, pages) = team_pages(&app, &org.admin.token, "limit=2").await;
    assert_eq!(seen, ["a", "b", "c", "d"]);
    assert_eq!(
        pages, 2,
        "the page of exactly `limit` items at the end is the last"
    );
}

#[rocket::async_test]
async fn team_names_that_share_a_lower_case_form_page_without_loss() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    // The same name cannot be live twice, so archive the first of each pair.
    let mut expected = Vec::new();
    for name in ["Ops", "Sales"] {
        let old = app.team(&org, name).await;
        app.post_empty(&archive_path(old), &org.admin.token)
            .await
            .ok();
        app.team(&org, &name.to_uppercase()).await;
        expected.push(name.to_lowercase());
        expected.push(name.to_lowercase());
    }

    let (seen, _) = team_pages(&app, &org.admin.token, "limit=1&include_archived=true").await;
    let lowered: Vec<String> = seen.iter().map(|n| n.to_lowercase()).collect();
    assert_eq!(lowered, expected);
}

// PostgreSQL lower-cases 'İ' (U+0130) to "i" and a final 'Σ' to 'σ'; Rust's to_lowercase(),
// which builds the cursor, gives "i̇" (i + U+0307) and 'ς'. The keyset comparison then runs
// against a key that is not the one the rows were sorted by.

#[rocket::async_test]
async fn team_pages_do_not_skip_names_after_one_starting_with_a_dotted_capital_i() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    for name in ["İsmail", "Ivan"] {
        app.team(&org, name).await;
    }

    let (seen, _) = team_pages(&app, &org.admin.token, "limit=1").await;
    assert_eq!(seen, ["İsmail", "Ivan"]);
}

#[rocket::async_test]
async fn team_pages_do_not_repeat_a_name_ending_in_a_capital_sigma() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    for name in ["ΟΔΟΣ", "Ωmega"] {
        app.team(&org, name).await;
    }

    let (seen, _) = team_pages(&app, &org.admin.token, "limit=1").await;
    assert_eq!(seen, ["ΟΔΟΣ", "Ωmega"]);
}

#[rocket::async_test]
async fn q_filters_teams_by_name_ignoring_case() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    for name in [
        "Customer Support",
        "Support Nordics",
        "Sales",
        "100% Club",
        "1000 Club",
    ] {
        app.team(&org, name).await;
    }

    let r = app
        .get(&format!("{TEAMS}?q=SUPPORT"), &org.admin.token)
        .await;
    assert_eq!(names(r.ok()), ["Customer Support", "Support Nordics"]);

    let r = app.get(&format!("{TEAMS}?q=%25"), &org.admin.token).await;
    assert_eq!(names(r.ok()), ["100% Club"], "% in q matches literally");

    let r = app
        .get(&format!("{TEAMS}?q=nothing"), &org.admin.token)
        .await;
    assert!(names(r.ok()).is_empty());
}

#[rocket::async_test]
async fn archived_teams_are_listed_only_on_request() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    app.team(&org, "Live").await;
    let old = app.team(&org, "Old").await;
    app.post_empty(&archive_path(old), &org.admin.token)
        .await
        .ok();

    let r = app.get(TEAMS, &org.admin.token).await;
    assert_eq!(names(r.ok()), ["Live"]);
    let r = app
        .get(&format!("{TEAMS}?include_archived=false"), &org.admin.token)
        .await;
    assert_eq!(names(r.ok()), ["Live"]);

    let r = app
        .get(&format!("{TEAMS}?include_archived=true"), &org.admin.token)
        .await;
    let body = r.ok();
    assert_eq!(names(body), ["Live", "Old"]);
    assert!(body["items"][1]["archived_at"].is_string());
}

#[rocket::async_test]
async fn bad_list_parameters_are_refused_by_name() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let token = &org.admin.token;

    for limit in ["0", "201", "-1", "ten", ""] {
        app.get(&format!("{TEAMS}?limit={limit}"), token)
            .await
            .invalid_field("limit");
    }
    app.get(&format!("{TEAMS}?limit=200"), token).await.ok();
    app.get(&format!("{TEAMS}?limit=1"), token).await.ok();

    for cursor in ["garbage", "eyJrIjoiYSJ9", "%21%21"] {
        app.get(&format!("{TEAMS}?cursor={cursor}"), token)
            .await
            .invalid_field("cursor");
    }
    app.get(&format!("{TEAMS}?include_archived=maybe"), token)
        .await
        .invalid_field("include_archived");
}

// --- show -----------------------------------------------------------------------------------

#[rocket::async_test]
async fn a_team_shows_its_active_members_and_leads_by_name() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let team = app.team(&org, "Support").await;
    let other = app.team(&org, "Sales").await;
    let lead = app
        .member(&org, "Lara Lead", Role::TeamLead, Some(team))
        .await;
    let emma = app
        .member(&org, "Emma Employee", Role::Employee, Some(team))
        .await;
    let gone = app
        .member(&org, "Gary Gone", Role::Employee, Some(team))
        .await;
    app.member(&org, "Sam Sales", Role::Employee, Some(other))
        .await;
    app.member(&org, "Nora Noteam", Role::Employee, None).await;
    app.post_empty(
        &format!("/api/v1/members/{}/deactivate", gone.id),
        &org.admin.token,
    )
    .await
    .ok();

    let r = app.get(&team_path(team), &emma.token).await;
    let body = r.ok();
    assert_eq!(body["id"], team.to_string());
    assert_eq!(body["name"], "Support");
    let members: Vec<(&str, &str)> = body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["display_name"].as_str().unwrap(),
                m["role"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        members,
        [("Emma Employee", "employee"), ("Lara Lead", "team_lead")],
        "deactivated members and members of other teams are not listed"
    );
    assert_eq!(body["members"][1]["id"], lead.id.to_string());
    let leads = body["leads"].as_array().unwrap();
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0]["id"], lead.id.to_string());
    assert_eq!(leads[0]["display_name"], "Lara Lead");
}

#[rocket::async_test]
async fn a_team_without_members_shows_empty_lists() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let team = app.team(&org, "Empty").await;

    let r = app.get(&team_path(team), &org.admin.token).await;
    let body = r.ok();
    assert_eq!(body["members"], json!([]));
    assert_eq!(body["leads"], json!([]));
}

#[rocket::async_test]
async fn an_unknown_or_malformed_team_id_is_not_found() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let token = &org.admin.token;
    let unknown = Uuid::new_v4();

    for id in [unknown.to_string(), "not-a-uuid".into(), "123".into()] {
        app.get(&team_path(&id), token).await.problem(404);
        app.patch(&team_path(&id), token, json!({ "name": "X" }))
            .await
            .problem(404);
        app.post_empty(&archive_path(&id), token).await.problem(404);
    }
}

// --- rename ---------------------------------------------------------------------------------

#[rocket::async_test]
async fn admin_renames_a_team() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let team = app.team(&org, "Support").await;

    let r = app
        .patch(
            &team_path(team),
            &org.admin.token,
            json!({ "name": "Customer Care" }),
        )
        .await;
    assert_eq!(r.ok()["name"], "Customer Care");
    let shown = app.get(&team_path(team), &org.admin.token).await;
    assert_eq!(shown.ok()["name"], "Customer Care");
}

#[rocket::async_test]
async fn a_team_may_be_renamed_to_a_different_case_of_its_own_name() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let team = app.team(&org, "support").await;

    let r = app
        .patch(
            &team_path(team),
            &org.admin.token,
            json!({ "name": "Support" }),
        )
        .await;
    assert_eq!(r.ok()["name"], "Support");
}

#[rocket::async_test]
async fn only_admins_rename_teams() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let team = app.team(&org, "Support").await;
    let lead = app
        .member(&org, "Lara Lead", Role::TeamLead, Some(team))
        .await;
    let hr = app.member(&org, "Hanna Hr", Role::Hr, None).await;
    let employee = app
        .member(&org, "Emma Employee", Role::Employee, Some(team))
        .await;

    for actor in [&lead, &hr, &employee] {
        app.patch(&team_path(team), &actor.token, json!({ "name": "Mine" }))
            .await
            .problem(403);
    }
    app.request(
        Method::Patch,
        &team_path(team),
        None,
        Some(json!({ "name": "Mine" })),
    )
    .await
    .problem(401);
}

#[rocket::async_test]
async fn renaming_to_a_name_another_live_team_has_is_a_conflict() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    app.team(&org, "Support").await;
    let sales = app.team(&org, "Sales").await;

    app.patch(
        &team_path(sales),
        &org.admin.token,
        json!({ "name": "SUPPORT" }),
    )
    .await
    .problem(409);
    let shown = app.get(&team_path(sales), &org.admin.token).await;
    assert_eq!(shown.ok()["name"], "Sales");
}

#[rocket::async_test]
async fn renaming_with_a_bad_name_is_refused() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let team = app.team(&org, "Support").await;

    app.patch(&team_path(team), &org.admin.token, json!({ "name": " " }))
        .await
        .invalid_field("name");
    app.patch(
        &team_path(team),
        &org.admin.token,
        json!({ "name": "n".repeat(121) }),
    )
    .await
    .invalid_field("name");
    app.patch(&team_path(team), &org.admin.token, json!({}))
        .await
        .invalid_field("name");
    app.patch(
        &team_path(team),
        &org.admin.token,
        json!({ "name": "X", "archived": true }),
    )
    .await
    .invalid_field("archived");
}

#[rocket::async_test]
async fn an_archived_team_cannot_be_renamed() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let team = app.team(&org, "Old").await;
    app.post_empty(&archive_path(team), &org.admin.token)
        .await
        .ok();

    app.patch(
        &team_path(team),
        &org.admin.token,
        json!({ "name": "Revived" }),
    )
    .await
    .problem(409);
}

// --- archive --------------------------------------------------------------------------------

#[rocket::async_test]
async fn a_team_with_active_members_cannot_be_archived_until_they_move() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let team = app.team(&org, "Old").await;
    let new_team = app.team(&org, "New").await;
    let emma = app
        .member(&org, "Emma Employee", Role::Employee, Some(team))
        .await;
    let lara = app
        .member(&org, "Lara Lead", Role::TeamLead, Some(team))
        .await;

    let r = app.post_empty(&archive_path(team), &org.admin.token).await;
    assert_eq!(r.problem(409)["active_members"], 2);

    move_member(&app, &org, emma.id, new_team).await;
    app.post_empty(&archive_path(team), &org.admin.token)
        .await
        .problem(409);

    move_member(&app, &org, lara.id, new_team).await;
    let r = app.post_empty(&archive_path(team), &org.admin.token).await;
    let body = r.ok();
    assert_eq!(body["id"], team.to_string());
    assert!(body["archived_at"].is_string());
    let shown = app.get(&team_path(team), &org.admin.token).await;
    assert!(shown.ok()["archived_at"].is_string());
}

#[rocket::async_test]
async fn only_admins_archive_teams() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let team = app.team(&org, "Old").await;
    let hr = app.member(&org, "Hanna Hr", Role::Hr, None).await;
    let lead = app.member(&org, "Lara Lead", Role::TeamLead, None).await;
    let employee = app
        .member(&org, "Emma Employee", Role::Employee, None)
        .await;

    for actor in [&hr, &lead, &employee] {
        app.post_empty(&archive_path(team), &actor.token)
            .await
            .problem(403);
    }
    app.request(Method::Post, &archive_path(team), None, None)
        .await
        .problem(401);
    let shown = app.get(&team_path(team), &org.admin.token).await;
    assert!(shown.ok()["archived_at"].is_null());
}

#[rocket::async_test]
async fn archiving_an_archived_team_is_a_conflict() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let team = app.team(&org, "Old").await;
    let first = app.post_empty(&archive_path(team), &org.admin.token).await;
    let archived_at = first.ok()["archived_at"].clone();

    let r = app.post_empty(&archive_path(team), &org.admin.token).await;
    assert_eq!(r.problem(409)["archived_at"], archived_at);
}

#[rocket::async_test]
async fn an_archived_teams_name_can_be_used_again() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let old = app.team(&org, "Support").await;
    app.post_empty(&archive_path(old), &org.admin.token)
        .await
        .ok();

    let new = app.team(&org, "support").await;
    assert_ne!(new, old);
    let other = app.team(&org, "Sales").await;
    app.patch(
        &team_path(other),
        &org.admin.token,
        json!({ "name": "Support" }),
    )
    .await
    .problem(409);
}

#[rocket::async_test]
async fn a_team_with_only_deactivated_members_can_be_archived() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let team = app.team(&org, "Old").await;
    let gone = app
        .member(&org, "Gary Gone", Role::Employee, Some(team))
        .await;
    app.post_empty(
        &format!("/api/v1/members/{}/deactivate", gone.id),
        &org.admin.token,
    )
    .await
    .ok();

    app.post_empty(&archive_path(team), &org.admin.token)
        .await
        .ok();
}

#[rocket::async_test]
async fn reactivation_never_leaves_an_active_member_in_an_archived_team() {
    let app = TestApp::new().await;
    let org = app.seed_org("acme").await;
    let team = app.team(&org, "Old").await;
    let gone = app
        .member(&org, "Gary Gone", Role::Employee, Some(team))
        .await;
    let member_path = format!("/api/v1/members/{}", gone.id);
    app.post_empty(&format!("{member_path}/deactivate"), &org.admin.token)
        .await
        .ok();
    let archived = app.post_empty(&archive_path(team), &org.admin.token).await;
    let reactivated = app
        .post_empty(&format!("{member_path}/reactivate"), &org.admin.token)
        .await;

    // Whichever step refuses (archive or reactivate), an archived team has no active member.
    let shown = app.get(&team_path(team), &org.admin.token).await;
    let team_body = shown.ok();
    if team_body["archived_at"].is_string() {
        assert_eq!(
            team_body["members"],
            json!([]),
            "archive: {} / reactivate: {}",
            archived.text,
            reactivated.text
        );
        let member = app.get(&member_path, &org.admin.token).await;
        let member = member.ok();
        assert!(
            member["status"] == "deactivated" || member["team_id"] != team.to_string(),
            "{member}"
        );
    }
}

// --- tenant isolation -----------------------------------------------------------------------

#[rocket::async_test]
async fn another_organisations_team_is_not_found_like_a_missing_one() {
    let app = TestApp::new().await;
    let acme = app.seed_org("acme").await;
    let globex = app.seed_org("globex").await;
    let acme_team = app.team(&acme, "Support").await;
    let missing = Uuid::new_v4();
    let token = &globex.admin.token;

    let foreign = app.get(&team_path(acme_team), token).await;
    let absent = app.get(&team_path(missing), token).await;
    foreign.problem(404);
    same_problem(&absent, &foreign);

    let foreign = app
        .patch(&team_path(acme_team), token, json!({ "name": "Stolen" }))
        .await;
    let absent = app
        .patch(&team_path(missing), token, json!({ "name": "Stolen" }))
        .await;
    foreign.problem(404);
    same_problem(&absent, &foreign);

    let foreign = app.post_empty(&archive_path(acme_team), token).await;
    let absent = app.post_empty(&archive_path(missing), token).await;
    foreign.problem(404);
    same_problem(&absent, &foreign);

    let globex_employee = app
        .member(&globex, "Emma Employee", Role::Employee, None)
        .await;
    app.get(&team_path(acme_team), &globex_employee.token)
        .await
        .problem(404);

    let r = app.get(&team_path(acme_team), &acme.admin.token).await;
    let body = r.ok();
    assert_eq!(body["name"], "Support");
    assert!(body["archived_at"].is_null());
}
