//! Challenges: time-boxed goals for a team or the organisation. (Being built.)

use diesel_async::AsyncPgConnection;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

use crate::error::AppResult;

/// A challenge with its live progress.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChallengeProgress {
    pub id: Uuid,
    pub title: String,
    pub progress: i64,
    pub target: i64,
}

/// Complete the organisation's running challenges whose target has been reached.
pub async fn evaluate(_conn: &mut AsyncPgConnection, _org: Uuid) -> AppResult<()> {
    Ok(())
}

/// Running challenges that concern a member (their team's and the organisation's).
pub async fn active_for(
    _conn: &mut AsyncPgConnection,
    _org: Uuid,
    _member: Uuid,
) -> AppResult<Vec<ChallengeProgress>> {
    Ok(Vec::new())
}

#[derive(OpenApi)]
#[openapi(paths())]
pub struct ChallengesApi;

pub fn routes() -> Vec<rocket::Route> {
    Vec::new()
}
