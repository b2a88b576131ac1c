//! Engagement exports for HR: per member or team and period, streamed as CSV, NDJSON or JSON.

use utoipa::OpenApi;

/// This module's operations, merged into the service's OpenAPI document.
#[derive(OpenApi)]
#[openapi(paths())]
pub struct ExportsApi;

pub fn routes() -> Vec<rocket::Route> {
    Vec::new()
}
