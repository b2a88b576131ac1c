//! Initiatives ("wins"): what staff did or propose to improve a customer's experience.

use utoipa::OpenApi;

/// The initiatives operations, merged into the service's OpenAPI document.
#[derive(OpenApi)]
#[openapi(paths())]
pub struct InitiativesApi;

pub fn routes() -> Vec<rocket::Route> {
    Vec::new()
}
