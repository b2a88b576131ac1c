//! CX KPIs per team and period (CSAT, NPS, CES, FCR or organisation-defined), with corrections that keep history.

use utoipa::OpenApi;

/// This module's operations, merged into the service's OpenAPI document.
#[derive(OpenApi)]
#[openapi(paths())]
pub struct KpisApi;

pub fn routes() -> Vec<rocket::Route> {
    Vec::new()
}
