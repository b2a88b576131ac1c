//! The published contract: one type per schema name, the answers every operation shares, and
//! the defects the fuzzer (scripts/contract) found, pinned.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;

/// A type that derives `ToSchema`, as written in the source.
#[derive(Debug)]
struct SchemaType {
    /// The name it is published under: `#[schema(as = X)]`, else the type's name.
    name: String,
    at: String,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The last segment of `as = a::b::Name` (utoipa publishes the last segment for a plain path).
fn schema_as(attribute: &str) -> Option<String> {
    let rest = attribute.split_once("as")?.1.trim_start();
    let rest = rest.strip_prefix('=')?.trim_start();
    let name: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
        .collect();
    name.rsplit("::").next().map(str::to_string)
}

fn type_name(line: &str) -> Option<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "struct" || *w == "enum")?;
    let name: String = words
        .get(at + 1)?
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// Every `ToSchema` type of `src/`, read from the source: attributes are gathered up to the
/// `struct`/`enum` line they belong to. Types made by `vocabulary!` count too.
fn schema_types() -> Vec<SchemaType> {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut found = Vec::new();
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        let short = file
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap_or(&file)
            .display()
            .to_string();
        let mut attributes = String::new();
        let mut open = 0i32;
        let mut in_vocabulary = false;
        for (n, raw) in source.lines().enumerate() {
            let line = raw.trim();
            let at = format!("{short}:{}", n + 1);
            if line.starts_with("vocabulary!(") {
                in_vocabulary = true;
                continue;
            }
            if in_vocabulary {
                if line.starts_with("#[schema(") {
                    attributes.push_str(line);
                }
                if line.starts_with("//") || line.starts_with("#[") {
                    continue;
                }
                if let Some(name) = line.strip_suffix('{').map(str::trim)
                    && !name.is_empty()
                    && name.chars().all(|c| c.is_alphanumeric() || c == '_')
                {
                    let published = schema_as(attributes.trim_start_matches("#[schema("))
                        .unwrap_or_else(|| name.to_string());
                    found.push(SchemaType {
                        name: published,
                        at,
                    });
                }
                attributes.clear();
                in_vocabulary = false;
                continue;
            }
            if open > 0 || line.starts_with("#[") {
                attributes.push_str(line);
                attributes.push('\n');
                open += line.matches('[').count() as i32 - line.matches(']').count() as i32;
                continue;
            }
            if line.is_empty() || line.starts_with("//") {
                continue;
            }
            let derives_schema = attributes
                .split("#[")
                .any(|a| a.starts_with("derive(") && a.contains("ToSchema"));
            if derives_schema && let Some(name) = type_name(line) {
                let published = attributes
                    .split("#[")
                    .filter(|a| a.starts_with("schema("))
                    .find_map(schema_as)
                    .unwrap_or(name);
                found.push(SchemaType {
                    name: published,
                    at,
                });
            }
            attributes.clear();
        }
    }
    found
}

/// utoipa keeps one schema per name: a second type with the same name silently replaces the
/// first, and every reference to either then describes the survivor (the api keys' `Scope`
/// once documented the boards' scope as `exports | kpis`). Rename one with
/// `#[schema(as = NewName)]`.
#[test]
fn every_openapi_schema_name_belongs_to_one_type() {
    let types = schema_types();
    let mut by_name: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for t in &types {
        by_name.entry(&t.name).or_default().push(&t.at);
    }
    let shared: Vec<String> = by_name
        .iter()
        .filter(|(_, at)| at.len() > 1)
        .map(|(name, at)| format!("{name}: {}", at.join(", ")))
        .collect();
    assert!(
        shared.is_empty(),
        "schema names used by more than one type (rename with #[schema(as = ...)]):\n{}",
        shared.join("\n")
    );

    // The scan must see every named schema the document has, or it could miss a collision.
    let doc = serde_json::to_value(frontline::openapi::document()).unwrap();
    let unseen: Vec<&String> = doc["components"]["schemas"]
        .as_object()
        .unwrap()
        .keys()
        // Generic instances (`Page_Member`) are named by utoipa, not declared.
        .filter(|name| !name.contains('_') && !by_name.contains_key(name.as_str()))
        .collect();
    assert!(
        unseen.is_empty(),
        "schemas the source scan did not find (teach schema_types() how they are declared): {unseen:?}"
    );
}

#[test]
fn the_scan_reads_renames_and_declarations() {
    assert_eq!(
        schema_as("schema(as = ApiKeyScope)]").as_deref(),
        Some("ApiKeyScope")
    );
    assert_eq!(
        schema_as("schema(as = crate::x::Y, title = \"t\")]").as_deref(),
        Some("Y")
    );
    assert_eq!(schema_as("schema(rename_all = \"snake_case\")]"), None);
    assert_eq!(
        type_name("pub(crate) enum Scope {").as_deref(),
        Some("Scope")
    );
    assert_eq!(type_name("pub struct Page<T> {").as_deref(), Some("Page"));
}

#[test]
fn the_boards_scope_and_the_api_keys_scope_are_two_schemas() {
    let doc = serde_json::to_value(frontline::openapi::document()).unwrap();
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["ApiKeyScope"]["enum"],
        serde_json::json!(["exports", "kpis", "scim"])
    );
    let board_scope = schemas["MemberBoard"]["properties"]["scope"]["$ref"]
        .as_str()
        .unwrap();
    let name = board_scope.rsplit('/').next().unwrap();
    assert!(
        !schemas[name]["enum"]
            .as_array()
            .unwrap()
            .contains(&Value::from("exports")),
        "MemberBoard.scope points at {name}: {}",
        schemas[name]
    );
}

/// Answers that come from the shared layers (`JsonBody`, the pool, the request id) are
/// documented on every operation they can happen on.
#[test]
fn every_operation_documents_the_answers_every_request_can_get() {
    let doc = serde_json::to_value(frontline::openapi::document()).unwrap();
    let mut missing = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            let mut need = Vec::new();
            if op.get("requestBody").is_some() {
                need.extend(["400", "413", "415"]);
            }
            // These answer without the database (`/metrics` reads the pools' own counts).
            if !["/health/live", "/metrics", "/api/v1/openapi.json", "/docs"]
                .contains(&path.as_str())
            {
                need.push("503");
            }
            for code in need {
                if !responses.contains_key(code) {
                    missing.push(format!("{method} {path}: {code}"));
                }
            }
            for (code, response) in responses {
                if response["headers"].get("X-Request-Id").is_none() {
                    missing.push(format!("{method} {path} {code}: X-Request-Id"));
                }
                if (code == "429" || code == "503")
                    && response["headers"].get("Retry-After").is_none()
                {
                    missing.push(format!("{method} {path} {code}: Retry-After"));
                }
            }
        }
    }
    assert!(missing.is_empty(), "undocumented: {missing:#?}");

    let export = &doc["paths"]["/api/v1/exports/engagement"]["get"]["responses"]["200"];
    assert!(export["headers"].get("Content-Disposition").is_some());
    let adjust = &doc["paths"]["/api/v1/ledger/adjustments"]["post"]["responses"]["201"];
    assert!(adjust["headers"].get("Idempotent-Replayed").is_some());
}

#[rocket::async_test]
async fn a_search_with_a_nul_or_control_character_is_refused_naming_q() {
    let app = TestApp::new().await;
    let org = app.seed_org("contract-q").await;
    for q in ["%00", "a%00b", "x%1Fy", "%7F"] {
        app.get(&format!("/api/v1/members?q={q}"), &org.admin.token)
            .await
            .invalid_field("q");
    }
}

#[rocket::async_test]
async fn an_export_flag_is_true_or_false() {
    let app = TestApp::new().await;
    let org = app.seed_org("contract-bom").await;
    for query in ["bom=", "bom=1", "pseudonymise=", "pseudonymise=0"] {
        let field = query.split('=').next().unwrap();
        app.get(
            &format!("/api/v1/exports/engagement?format=csv&{query}"),
            &org.admin.token,
        )
        .await
        .invalid_field(field);
    }
}

#[rocket::async_test]
async fn an_empty_badge_change_answers_the_badge_as_it_is() {
    let app = TestApp::new().await;
    let org = app.seed_org("contract-badge").await;
    let badges = app
        .get("/api/v1/badges", &org.admin.token)
        .await
        .ok()
        .clone();
    let first = badges
        .as_array()
        .and_then(|a| a.first().cloned())
        .or_else(|| badges["items"].as_array().and_then(|a| a.first().cloned()))
        .expect("the organisation has badges");
    let id = first["id"].as_str().unwrap();
    let r = app
        .patch(
            &format!("/api/v1/badges/{id}"),
            &org.admin.token,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(r.ok()["id"], first["id"]);
    app.patch(
        &format!("/api/v1/badges/{}", uuid::Uuid::new_v4()),
        &org.admin.token,
        serde_json::json!({}),
    )
    .await
    .problem(404);
}

#[rocket::async_test]
async fn a_body_that_is_not_an_object_is_refused() {
    let app = TestApp::new().await;
    let org = app.seed_org("contract-array").await;
    let path = format!("/api/v1/members/{}", org.admin.id);
    app.patch(&path, &org.admin.token, serde_json::json!([null, null]))
        .await
        .invalid_field("body");
    // Every field of a PATCH is optional: `{}` changes nothing and is not refused.
    app.patch(&path, &org.admin.token, serde_json::json!({}))
        .await
        .ok();
}

#[rocket::async_test]
async fn a_query_field_given_twice_is_refused_naming_it() {
    let app = TestApp::new().await;
    let org = app.seed_org("contract-twice").await;
    for (query, field) in [
        ("limit=5&limit=500", "limit"),
        ("team_id=x&team_id=y", "team_id"),
    ] {
        app.get(&format!("/api/v1/members?{query}"), &org.admin.token)
            .await
            .invalid_field(field);
    }
    app.get("/api/v1/me/points?limit=null&limit=null", &org.admin.token)
        .await
        .invalid_field("limit");
}

#[rocket::async_test]
async fn the_fuzzer_s_500s_are_422s_naming_the_field() {
    let app = TestApp::new().await;
    let org = app.seed_org("contract-500s").await;
    // i32::MIN points: `abs()` overflowed (a panic) before it was checked.
    app.post(
        "/api/v1/ledger/adjustments",
        &org.admin.token,
        serde_json::json!({ "member_id": org.admin.id, "points": i32::MIN, "reason": "x" }),
    )
    .await
    .invalid_field("points");
    // A NUL character in a badge's description reached PostgreSQL, which cannot store it.
    let badges = app
        .get("/api/v1/badges", &org.admin.token)
        .await
        .ok()
        .clone();
    let first = badges
        .as_array()
        .and_then(|a| a.first().cloned())
        .or_else(|| badges["items"].as_array().and_then(|a| a.first().cloned()))
        .expect("the organisation has badges");
    app.patch(
        &format!("/api/v1/badges/{}", first["id"].as_str().unwrap()),
        &org.admin.token,
        serde_json::json!({ "description": "a\u{0}b" }),
    )
    .await
    .invalid_field("description");
}

/// The fuzzer's `GET /me/data` 500 ("Invalid Json"): PostgreSQL renders a float8 inside jsonb as
/// a plain decimal (`1797693134862315700000...`, 309 digits), which serde_json's default, fast
/// float parser overflowed to infinity and refused. Every KPI value the API accepts must come
/// back in the member's data, exactly.
#[rocket::async_test]
async fn my_data_reads_back_the_largest_numbers_it_stores() {
    let app = TestApp::new().await;
    let org = app.seed_org("contract-my-data").await;
    let team = app.team(&org, "Support").await;
    for (kpi, value) in [("largest", f64::MAX), ("smallest", -f64::MAX)] {
        let r = app
            .post(
                &format!("/api/v1/teams/{team}/kpis"),
                &org.admin.token,
                serde_json::json!({
                    "kpi": kpi, "period_start": "2026-01-01", "period_end": "2026-02-01",
                    "value": value, "sample_size": 1,
                }),
            )
            .await;
        assert_eq!(r.status, rocket::http::Status::Created, "{}", r.text);
    }
    let data = app
        .get("/api/v1/me/data", &org.admin.token)
        .await
        .ok()
        .clone();
    let mut values: Vec<f64> = data["kpis_recorded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["value"].as_f64().unwrap())
        .collect();
    values.sort_by(f64::total_cmp);
    assert_eq!(values, [-f64::MAX, f64::MAX]);
}

/// What a generated client (openapi-typescript) reads from the document: open extension
/// members, typed maps and parameters, each board's own parameters, nullable cursors.
#[test]
fn the_document_types_what_generated_clients_read() {
    let doc = serde_json::to_value(frontline::openapi::document()).unwrap();
    let schemas = &doc["components"]["schemas"];
    let extension = schemas["Problem"]["allOf"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s.get("properties").is_none())
        .unwrap();
    assert_eq!(extension["additionalProperties"], Value::Bool(true));
    assert_eq!(
        schemas["EngagementRow"]["properties"]["other_kpis"]["additionalProperties"]["type"],
        "number"
    );
    // Counts by company value are whole numbers, on every row.
    let by_value = &schemas["EngagementRow"]["properties"]["recognitions_by_value"];
    assert_eq!(by_value["additionalProperties"]["type"], "integer");
    assert!(
        schemas["EngagementRow"]["required"]
            .as_array()
            .unwrap()
            .contains(&Value::from("recognitions_by_value"))
    );
    for (name, schema) in schemas.as_object().unwrap() {
        if let Some(cursor) = schema["properties"].get("next_cursor") {
            assert_eq!(
                cursor["type"],
                serde_json::json!(["string", "null"]),
                "{name}"
            );
        }
    }

    let names = |path: &str| -> Vec<String> {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(!names("/api/v1/leaderboards/members").contains(&"metric".to_string()));
    let export_params = &doc["paths"]["/api/v1/exports/engagement"]["get"]["parameters"];
    let value_id = export_params
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "value_id")
        .expect("the export documents value_id");
    assert_eq!(value_id["schema"]["format"], "uuid");
    assert!(names("/api/v1/leaderboards/teams").contains(&"metric".to_string()));

    // Parameters that are ids, numbers, flags, dates or words from a fixed list say so.
    let mut untyped = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap();
                let free_text = ["q", "cursor", "period", "from", "to"].contains(&name);
                if p["in"] == "query"
                    && !free_text
                    && p["schema"] == serde_json::json!({"type": "string"})
                {
                    untyped.push(format!("{method} {path} {name}"));
                }
            }
        }
    }
    assert!(
        untyped.is_empty(),
        "query parameters typed as plain text: {untyped:#?}"
    );

    let my_data = &doc["paths"]["/api/v1/me/data"]["get"]["responses"]["200"];
    assert!(my_data["headers"].get("Content-Disposition").is_some());
}

#[rocket::async_test]
async fn a_flag_is_true_or_false() {
    let app = TestApp::new().await;
    let org = app.seed_org("contract-flags").await;
    for value in ["", "1", "0", "yes"] {
        app.get(
            &format!("/api/v1/teams?include_archived={value}"),
            &org.admin.token,
        )
        .await
        .invalid_field("include_archived");
    }
    app.get("/api/v1/teams?include_archived=true", &org.admin.token)
        .await
        .ok();
}

/// A suppressed team's analytics leave the flattened figures out: the document must allow an
/// object without them (utoipa described the flattened `Option<Engagement>` as "an
/// `Engagement` or null", which the fuzzer's stateful phase caught).
#[test]
fn a_suppressed_team_s_figures_are_optional_in_the_document() {
    let doc = serde_json::to_value(frontline::openapi::document()).unwrap();
    let team = &doc["components"]["schemas"]["TeamEngagement"];
    let figures = team["allOf"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["properties"].get("participants").is_some())
        .expect("the engagement figures");
    assert!(
        figures
            .get("required")
            .is_none_or(|r| r.as_array().unwrap().is_empty())
    );
    assert!(figures.get("oneOf").is_none());
}

/// Each route's method and path are written once, in its Rocket attribute: utoipa's
/// `rocket_extras` reads them from there, so a `path = ...` in `#[utoipa::path]` or a
/// `#[rocket::get(...)]` (which `rocket_extras` cannot see) is a second copy to keep in step.
#[test]
fn each_route_is_written_once() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut twice = Vec::new();
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        let mut in_path = false;
        for (n, line) in source.lines().enumerate() {
            let line = line.trim();
            in_path |= line.starts_with("#[utoipa::path(");
            let at = format!("{}:{}", file.display(), n + 1);
            if in_path && line.contains("path = \"") {
                twice.push(format!("{at}: path in #[utoipa::path]"));
            }
            if ["get", "post", "put", "patch", "delete"]
                .iter()
                .any(|m| line.starts_with(&format!("#[rocket::{m}(")))
            {
                twice.push(format!("{at}: #[rocket::...] (write #[get(...)] etc.)"));
            }
            if line.starts_with("#[get(")
                || line.starts_with("#[post(")
                || line.starts_with("#[put(")
                || line.starts_with("#[patch(")
                || line.starts_with("#[delete(")
            {
                in_path = false;
            }
        }
    }
    assert!(twice.is_empty(), "routes written twice: {twice:#?}");
}
