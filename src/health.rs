//! Liveness and readiness probes.

use rocket::State;
use rocket::get;
use rocket::serde::json::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::Db;
use crate::error::AppResult;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` when healthy.
    pub status: &'static str,
}

/// The process is up and serving requests.
#[utoipa::path(tag = "operations",
    responses((status = 200, body = Health)))]
#[get("/health/live")]
pub fn live() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The service can do its work: the database answers.
#[utoipa::path(tag = "operations",
    responses(
        (status = 200, body = Health),
        (status = 503, description = "The database does not answer", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
#[get("/health/ready")]
pub async fn ready(db: &State<Db>) -> AppResult<Json<Health>> {
    db.ping().await?;
    Ok(Json(Health { status: "ok" }))
}

crate::http::operations!(
    /// The health probes.
    HealthApi { live, ready }
);
