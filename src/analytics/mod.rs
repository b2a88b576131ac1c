//! Engagement analytics: participation, recognition reach, the initiatives funnel, points by dimension and channel, and KPI change beside engagement.

use utoipa::OpenApi;

/// This module's operations, merged into the service's OpenAPI document.
#[derive(OpenApi)]
#[openapi(paths())]
pub struct AnalyticsApi;

pub fn routes() -> Vec<rocket::Route> {
    Vec::new()
}
