//! The OpenAPI 3.1 document and the human-readable reference at `/docs`.

use rocket::get;
use rocket::http::ContentType;
use rocket::response::content::RawHtml;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::problem_kind;

pub mod responses;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token from POST /api/v1/auth/login"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "metrics_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The `metrics_token` setting, for Prometheus scrapers (GET /metrics)",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Frontline API",
        description = "Employee engagement for customer experience: wins, recognition, points, leaderboards and HR exports. Errors are RFC 9457 problem documents (application/problem+json).",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Log in (a password, a PIN, or single sign-on with the organisation's OpenID provider), refresh and rotate tokens, log out, accept invites"),
        (name = "me", description = "The caller's own profile (birthday, start date) and password"),
        (name = "organisation", description = "The caller's organisation and its settings, single sign-on included"),
        (name = "teams", description = "Teams and their leads"),
        (name = "members", description = "Members, roles and team moves"),
        (name = "initiatives", description = "Wins: log, approve, implement and measure customer-experience initiatives"),
        (name = "recognition", description = "Recognise colleagues; the feed; reactions; team leads' budgets"),
        (name = "moderation", description = "Reports of recognitions and comments, and the admins' queue"),
        (name = "values", description = "The organisation's company values, which recognitions carry"),
        (name = "celebrations", description = "Birthdays and work anniversaries in the feed; recognition gaps, so quiet performers are noticed"),
        (name = "gamification", description = "Badges, levels, streaks, challenges and my progress"),
        (name = "open-badges", description = "Open Badges 2.0: hosted assertions, badge classes and the issuer as public JSON-LD (`/ob/v2/...`), revocation, badge images and wallet downloads"),
        (name = "rewards", description = "The rewards catalogue; redeeming points, the admins' queue and my redemptions"),
        (name = "leaderboards", description = "Where members and teams stand, by period and CX dimension"),
        (name = "ledger", description = "Points: balances, the ledger, corrections and point rules"),
        (name = "privacy", description = "My data, erasure, the audit log and API keys"),
        (name = "hr", description = "Engagement exports, CX KPIs and analytics"),
        (name = "notifications", description = "My inbox: what concerns me (recognised, boosted, my wins, badges, levels, challenges, redemptions), marking read"),
        (name = "webhooks", description = "Webhooks: endpoints that receive events, signed per Standard Webhooks (or as Slack/Teams messages), with retries, a delivery log and redelivery"),
        (name = "email", description = "The email log: invites, password resets, change notices and team leads' weekly digests, and whether each was sent"),
        (name = "integrity", description = "Anti-gaming: reciprocal recognition rings, for admins to look into"),
        (name = "operations", description = "Health probes, Prometheus metrics and this documentation"),
    )
)]
pub struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    // Each area lists its operations once, beside its handlers (`http::operations!`).
    for area in [
        crate::health::HealthApi::openapi(),
        crate::monitoring::MonitoringApi::openapi(),
        DocsApi::openapi(),
        crate::auth::routes::AuthApi::openapi(),
        crate::organisations::OrganisationsApi::openapi(),
        crate::teams::TeamsApi::openapi(),
        crate::members::routes::MembersApi::openapi(),
        crate::ledger::routes::LedgerApi::openapi(),
        crate::recognition::routes::RecognitionApi::openapi(),
        crate::values::routes::ValuesApi::openapi(),
        crate::moderation::routes::ModerationApi::openapi(),
        crate::celebrations::routes::CelebrationsApi::openapi(),
        crate::leaderboards::routes::LeaderboardsApi::openapi(),
        crate::gamification::routes::GamificationApi::openapi(),
        crate::gamification::challenges::ChallengesApi::openapi(),
        crate::audit::routes::AuditApi::openapi(),
        crate::privacy::PrivacyApi::openapi(),
        crate::api_keys::routes::ApiKeysApi::openapi(),
        crate::exports::ExportsApi::openapi(),
        crate::kpis::KpisApi::openapi(),
        crate::analytics::AnalyticsApi::openapi(),
        crate::initiatives::InitiativesApi::openapi(),
        crate::rewards::routes::RewardsApi::openapi(),
        crate::integrity::routes::IntegrityApi::openapi(),
        crate::open_badges::openapi(),
        crate::notifications::NotificationsApi::openapi(),
        crate::webhooks::WebhooksApi::openapi(),
        crate::mail::routes::EmailApi::openapi(),
        crate::sso::SsoApi::openapi(),
    ] {
        doc.merge(area);
    }
    responses::complete(&mut doc);
    describe_responses(&mut doc);
    doc
}

/// OpenAPI requires unique operation ids and a description on every response; fill the
/// descriptions a handler left out with the status's meaning, so handlers list only what is
/// worth saying.
fn describe_responses(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    for item in doc.paths.paths.values_mut() {
        for op in responses::operations_mut(item) {
            // utoipa names operations after their functions (`show`, `list`); qualify them by
            // tag so they are unique, as OpenAPI requires (`teams_show`, `members_list`).
            if let (Some(tag), Some(id)) = (
                op.tags.as_ref().and_then(|t| t.first()),
                op.operation_id.as_ref(),
            ) && !id.starts_with(&format!("{tag}_"))
            {
                op.operation_id = Some(format!("{tag}_{id}"));
            }
            for (code, response) in op.responses.responses.iter_mut() {
                if let RefOr::T(r) = response
                    && r.description.trim().is_empty()
                {
                    r.description = code
                        .parse::<u16>()
                        .ok()
                        .map(rocket::http::Status::new)
                        .map(|s| match s.code {
                            400..=599 => problem_kind(s).1.to_string(),
                            _ => s.reason().unwrap_or("Success").to_string(),
                        })
                        .unwrap_or_else(|| "Response".to_string());
                }
            }
        }
    }
}

/// This document.
#[utoipa::path(tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
#[get("/api/v1/openapi.json")]
pub fn openapi_json() -> (ContentType, String) {
    (
        ContentType::JSON,
        document().to_pretty_json().unwrap_or_else(|_| "{}".into()),
    )
}

/// The human-readable API reference.
#[utoipa::path(tag = "operations",
    responses((status = 200, description = "HTML reference", content_type = "text/html")))]
#[get("/docs")]
pub fn docs() -> RawHtml<String> {
    RawHtml(render_reference(&document()))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A self-contained page (no scripts, no third-party assets): every operation with its
/// parameters, body and responses, and every problem type the API answers with.
pub fn render_reference(doc: &utoipa::openapi::OpenApi) -> String {
    let value = serde_json::to_value(doc).unwrap_or_default();
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Frontline API reference</title>\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>\
body{font:15px/1.5 system-ui,sans-serif;max-width:980px;margin:2rem auto;padding:0 1rem;color:#1d2433}\
code,pre{font-family:ui-monospace,monospace;background:#f3f4f7;border-radius:4px;padding:.1em .3em}\
.op{border:1px solid #dde1e8;border-radius:6px;padding:.6rem 1rem;margin:.8rem 0}\
.m{font-weight:700;text-transform:uppercase;display:inline-block;min-width:4.5em}\
.get{color:#1a7f37}.post{color:#0550ae}.patch{color:#8250df}.put{color:#9a6700}.delete{color:#cf222e}\
table{border-collapse:collapse}td,th{text-align:left;padding:.15rem .6rem .15rem 0;vertical-align:top}\
</style></head><body><h1>Frontline API reference</h1>",
    );
    if let Some(desc) = value.pointer("/info/description").and_then(|d| d.as_str()) {
        html.push_str(&format!("<p>{}</p>", esc(desc)));
    }
    html.push_str("<p>Machine-readable: <a href=\"/api/v1/openapi.json\"><code>/api/v1/openapi.json</code></a> (OpenAPI 3.1). \
Authenticate with <code>Authorization: Bearer &lt;access_token&gt;</code> from <code>POST /api/v1/auth/login</code>.</p>");
    let empty = serde_json::Map::new();
    let paths = value
        .get("paths")
        .and_then(|p| p.as_object())
        .unwrap_or(&empty);
    let mut by_tag: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(op) = item.get(method) else { continue };
            let tag = op
                .pointer("/tags/0")
                .and_then(|t| t.as_str())
                .unwrap_or("other")
                .to_string();
            let mut s = format!(
                "<div class=\"op\"><div><span class=\"m {method}\">{method}</span> <code>{}</code>",
                esc(path)
            );
            match op.pointer("/security/0/metrics_token") {
                Some(_) => s.push_str(" &middot; <em>requires the metrics token</em>"),
                None if op.get("security").is_some() => {
                    s.push_str(" &middot; <em>requires a bearer token</em>")
                }
                None => {}
            }
            s.push_str("</div>");
            if let Some(summary) = op.get("summary").and_then(|v| v.as_str()) {
                s.push_str(&format!("<p><strong>{}</strong></p>", esc(summary)));
            }
            if let Some(d) = op.get("description").and_then(|v| v.as_str()) {
                s.push_str(&format!("<p>{}</p>", esc(d)));
            }
            if let Some(params) = op.get("parameters").and_then(|v| v.as_array()) {
                s.push_str("<table><tr><th>parameter</th><th>in</th><th>description</th></tr>");
                for p in params {
                    s.push_str(&format!(
                        "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                        esc(p.get("name").and_then(|v| v.as_str()).unwrap_or("")),
                        esc(p.get("in").and_then(|v| v.as_str()).unwrap_or("")),
                        esc(p.get("description").and_then(|v| v.as_str()).unwrap_or(""))
                    ));
                }
                s.push_str("</table>");
            }
            if let Some(r) = op
                .pointer("/requestBody/content/application~1json/schema/$ref")
                .and_then(|v| v.as_str())
            {
                let name = r.rsplit('/').next().unwrap_or(r);
                s.push_str(&format!(
                    "<p>Body: <a href=\"#schema-{0}\"><code>{0}</code></a></p>",
                    esc(name)
                ));
            }
            if let Some(responses) = op.get("responses").and_then(|v| v.as_object()) {
                let codes: Vec<String> = responses
                    .iter()
                    .map(|(code, r)| {
                        let d = r.get("description").and_then(|v| v.as_str()).unwrap_or("");
                        format!("<code>{}</code> {}", esc(code), esc(d))
                    })
                    .collect();
                s.push_str(&format!("<p>Responses: {}</p>", codes.join(" &middot; ")));
            }
            s.push_str("</div>");
            by_tag.entry(tag).or_default().push(s);
        }
    }
    for (tag, ops) in by_tag {
        html.push_str(&format!("<h2 id=\"tag-{0}\">{0}</h2>", esc(&tag)));
        for op in ops {
            html.push_str(&op);
        }
    }
    html.push_str("<h2>Schemas</h2>");
    if let Some(schemas) = value
        .pointer("/components/schemas")
        .and_then(|v| v.as_object())
    {
        for (name, schema) in schemas {
            html.push_str(&format!(
                "<h3 id=\"schema-{0}\">{0}</h3><pre>{1}</pre>",
                esc(name),
                esc(&serde_json::to_string_pretty(schema).unwrap_or_default())
            ));
        }
    }
    html.push_str("<h2>Problem types</h2><p>Every error is an RFC 9457 problem document with <code>type</code>, \
<code>title</code>, <code>status</code>, <code>detail</code>, <code>instance</code> and <code>request_id</code>; \
validation problems list every offending field in <code>errors</code>.</p><table>");
    for code in [
        400u16, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500, 503,
    ] {
        let status = rocket::http::Status::new(code);
        let (slug, title) = problem_kind(status);
        html.push_str(&format!(
            "<tr id=\"problem-{slug}\"><td><code>{code}</code></td><td><code>/docs#problem-{slug}</code></td><td>{title}</td></tr>"
        ));
    }
    html.push_str("</table></body></html>");
    html
}

crate::http::operations!(
    /// This document and its page.
    DocsApi { openapi_json, docs }
);
