//! `GET /api/v1/teams/{id}/recognition-gaps`.

use rocket::State;
use rocket::get;
use rocket::serde::json::Json;

use super::{RecognitionGaps, gaps};
use crate::auth::LeadHrOrAdmin;
use crate::clock::Clock;
use crate::db::Db;
use crate::error::AppResult;
use crate::http::path_id;
use crate::openapi::responses::{Forbidden, NotFound, Unauthorized};

/// A team's members by how long since they were last recognised (celebrations do not count),
/// never recognised first, then the longest ago, with who recognised them last: so that quiet
/// performers are noticed. The team's leads, HR and admins; the caller is left out. At most 500
/// members (`truncated` says when the team has more).
#[utoipa::path(
    tag = "celebrations",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Team id")),
    responses(
        (status = 200, body = RecognitionGaps),
        Unauthorized,
        Forbidden,
        NotFound,
    )
)]
#[get("/api/v1/teams/<id>/recognition-gaps")]
pub async fn recognition_gaps(
    db: &State<Db>,
    clock: &State<Clock>,
    caller: LeadHrOrAdmin,
    id: &str,
) -> AppResult<Json<RecognitionGaps>> {
    let team = path_id(id, "team")?;
    let mut conn = db.conn().await?;
    Ok(Json(
        gaps::for_team(&mut conn, &caller, team, clock.now()).await?,
    ))
}

crate::http::operations!(
    /// Celebrations and nudges.
    CelebrationsApi { recognition_gaps }
);
