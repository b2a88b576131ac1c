//! Teams: groups of members with one or more team leads.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rocket::State;
use rocket::form::FromForm;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{get, patch, post};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::{Admin, Caller, Role};
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::http::{Cursor, JsonBody, Page, bool_param, check, page_limit, path_id};
use crate::openapi::responses::{Forbidden, Invalid, NotFound, Unauthorized};
use crate::schema::{members, teams};
use crate::sql::lower;
use crate::validation;

#[derive(Debug, Clone, Queryable, Selectable, Serialize, ToSchema)]
#[diesel(table_name = teams)]
pub struct Team {
    pub id: Uuid,
    pub name: String,
    /// Set when the team was archived; archived teams take no new members.
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A member as listed inside a team.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TeamMember {
    pub id: Uuid,
    pub display_name: String,
    pub role: Role,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamDetail {
    #[serde(flatten)]
    pub team: Team,
    /// Active members with the `team_lead` role.
    pub leads: Vec<TeamMember>,
    /// All active members, leads included, by name.
    pub members: Vec<TeamMember>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTeam {
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameTeam {
    pub name: String,
}

#[derive(Debug, FromForm, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TeamFilter {
    /// Include archived teams (default false).
    #[param(value_type = Option<bool>)]
    pub include_archived: Option<String>,
    /// Only teams whose name contains this text (case-insensitive, at most 100 characters).
    pub q: Option<String>,
    /// Page size, 1-200 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl TeamFilter {
    /// Page size, cursor, whether archived teams are included, and the search text; every
    /// bad value named.
    fn parse(&self) -> AppResult<(i64, Option<Cursor>, bool, Option<String>)> {
        let mut errors = Vec::new();
        let limit = page_limit(self.limit.as_deref(), &mut errors);
        let cursor = Cursor::decode(self.cursor.as_deref(), &mut errors);
        let archived = self.include_archived.as_deref();
        let include_archived = bool_param("include_archived", archived, false, &mut errors);
        let search = validation::search("q", self.q.as_deref(), &mut errors);
        check(errors)?;
        Ok((limit, cursor, include_archived, search))
    }
}

/// Whether the organisation has a team with this id (archived or not).
pub async fn exists(conn: &mut AsyncPgConnection, org: Uuid, id: Uuid) -> AppResult<bool> {
    let found: i64 = teams::table
        .filter(teams::organisation_id.eq(org))
        .filter(teams::id.eq(id))
        .count()
        .get_result(conn)
        .await?;
    Ok(found > 0)
}

/// Load a team of the organisation, or 404 (for ids of other organisations too).
pub async fn find(conn: &mut AsyncPgConnection, org: Uuid, id: Uuid) -> AppResult<Team> {
    teams::table
        .filter(teams::organisation_id.eq(org))
        .filter(teams::id.eq(id))
        .select(Team::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("team"))
}

/// Create a team (API, bootstrap, demo).
pub async fn create(conn: &mut AsyncPgConnection, org: Uuid, name: &str) -> AppResult<Team> {
    let mut errors = Vec::new();
    let name = validation::text("name", name, 120, &mut errors);
    check(errors)?;
    diesel::insert_into(teams::table)
        .values((teams::organisation_id.eq(org), teams::name.eq(&name)))
        .returning(Team::as_returning())
        .get_result(conn)
        .await
        .map_err(|e| name_taken(e, &name))
}

fn name_taken(e: diesel::result::Error, name: &str) -> AppError {
    match AppError::from(e) {
        AppError::Conflict { .. } => {
            AppError::conflict(format!("a team named '{name}' already exists"))
        }
        other => other,
    }
}

/// Create a team (admins).
#[utoipa::path(
    tag = "teams",
    security(("bearer" = [])),
    request_body = CreateTeam,
    responses(
        (status = 201, body = Team),
        Unauthorized,
        Forbidden,
        (status = 409, description = "A live team has this name", body = crate::error::Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[post("/api/v1/teams", data = "<body>")]
pub async fn create_team(
    db: &State<Db>,
    admin: Admin,
    body: JsonBody<CreateTeam>,
) -> AppResult<(Status, Json<Team>)> {
    let mut conn = db.conn().await?;
    let team = create(&mut conn, admin.organisation_id, &body.0.name).await?;
    Ok((Status::Created, Json(team)))
}

/// List the organisation's teams by name (any member).
#[utoipa::path(
    tag = "teams",
    security(("bearer" = [])),
    params(TeamFilter),
    responses(
        (status = 200, body = Page<Team>),
        Unauthorized,
        Invalid,
    )
)]
#[get("/api/v1/teams?<filter..>")]
pub async fn list(
    db: &State<Db>,
    caller: Caller,
    filter: TeamFilter,
) -> AppResult<Json<Page<Team>>> {
    let (limit, cursor, include_archived, search) = filter.parse()?;
    let mut query = teams::table
        .filter(teams::organisation_id.eq(caller.organisation_id))
        .select(Team::as_select())
        .order((lower(teams::name), teams::id))
        .limit(limit + 1)
        .into_boxed();
    if !include_archived {
        query = query.filter(teams::archived_at.is_null());
    }
    if let Some(q) = search {
        query = query.filter(teams::name.ilike(format!("%{}%", escape_like(&q))));
    }
    if let Some(c) = cursor {
        query = query.filter(
            lower(teams::name)
                .gt(lower(c.key.clone()))
                .or(lower(teams::name).eq(lower(c.key)).and(teams::id.gt(c.id))),
        );
    }
    let mut conn = db.conn().await?;
    let rows = query.load(&mut conn).await?;
    Ok(Json(Page::from_rows(rows, limit, |t: &Team| Cursor {
        // The name as stored: SQL lower-cases both sides, so the keyset agrees with the ORDER
        // BY whatever the script (Rust's and PostgreSQL's case maps differ, e.g. for İ and Σ).
        key: t.name.clone(),
        id: t.id,
    })))
}

/// A team with its leads and members (any member).
#[utoipa::path(
    tag = "teams",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Team id")),
    responses(
        (status = 200, body = TeamDetail),
        Unauthorized,
        NotFound,
    )
)]
#[get("/api/v1/teams/<id>")]
pub async fn show(db: &State<Db>, caller: Caller, id: &str) -> AppResult<Json<TeamDetail>> {
    let id = path_id(id, "team")?;
    let mut conn = db.conn().await?;
    let team = find(&mut conn, caller.organisation_id, id).await?;
    let rows: Vec<(Uuid, String, String)> = members::table
        .filter(members::organisation_id.eq(caller.organisation_id))
        .filter(members::team_id.eq(id))
        .filter(members::deactivated_at.is_null())
        .select((members::id, members::display_name, members::role))
        .order((lower(members::display_name), members::id))
        .load(&mut conn)
        .await?;
    let members: Vec<TeamMember> = rows
        .into_iter()
        .filter_map(|(id, display_name, role)| {
            role.parse().ok().map(|role| TeamMember {
                id,
                display_name,
                role,
            })
        })
        .collect();
    let leads = members
        .iter()
        .filter(|m| m.role == Role::TeamLead)
        .cloned()
        .collect();
    Ok(Json(TeamDetail {
        team,
        leads,
        members,
    }))
}

/// Rename a team (admins).
#[utoipa::path(
    tag = "teams",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Team id")),
    request_body = RenameTeam,
    responses(
        (status = 200, body = Team),
        Unauthorized,
        Forbidden,
        NotFound,
        (status = 409, description = "Archived, or the name is taken", body = crate::error::Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[patch("/api/v1/teams/<id>", data = "<body>")]
pub async fn rename(
    db: &State<Db>,
    admin: Admin,
    id: &str,
    body: JsonBody<RenameTeam>,
) -> AppResult<Json<Team>> {
    let id = path_id(id, "team")?;
    let mut errors = Vec::new();
    let name = validation::text("name", &body.0.name, 120, &mut errors);
    check(errors)?;
    let mut conn = db.conn().await?;
    let team = find(&mut conn, admin.organisation_id, id).await?;
    if team.archived_at.is_some() {
        return Err(AppError::conflict(
            "this team is archived; archived teams cannot be renamed",
        ));
    }
    let team = diesel::update(
        teams::table
            .filter(teams::organisation_id.eq(admin.organisation_id))
            .filter(teams::id.eq(id)),
    )
    .set((teams::name.eq(&name), teams::updated_at.eq(Utc::now())))
    .returning(Team::as_returning())
    .get_result(&mut conn)
    .await
    .map_err(|e| name_taken(e, &name))?;
    Ok(Json(team))
}

/// Archive a team (admins). Its members must be moved out first, so nobody is left in a team
/// that no longer exists for leaderboards and exports.
#[utoipa::path(
    tag = "teams",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Team id")),
    responses(
        (status = 200, body = Team),
        Unauthorized,
        Forbidden,
        NotFound,
        (status = 409, description = "Already archived, or still has active members", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/teams/<id>/archive")]
pub async fn archive(db: &State<Db>, admin: Admin, id: &str) -> AppResult<Json<Team>> {
    let id = path_id(id, "team")?;
    let mut conn = db.conn().await?;
    Ok(Json(archive_team(&mut conn, &admin, id).await?))
}

/// Archive a team of the admin's organisation that has no active members left.
async fn archive_team(conn: &mut AsyncPgConnection, admin: &Admin, id: Uuid) -> AppResult<Team> {
    let team = find(conn, admin.organisation_id, id).await?;
    if team.archived_at.is_some() {
        return Err(AppError::Conflict {
            detail: "this team is already archived".into(),
            extra: Some(serde_json::json!({ "archived_at": team.archived_at })),
        });
    }
    let active: i64 = members::table
        .filter(members::organisation_id.eq(admin.organisation_id))
        .filter(members::team_id.eq(id))
        .filter(members::deactivated_at.is_null())
        .count()
        .get_result(conn)
        .await?;
    if active > 0 {
        return Err(AppError::Conflict {
            detail: format!(
                "this team still has {active} active member(s); move them to another team first"
            ),
            extra: Some(serde_json::json!({ "active_members": active })),
        });
    }
    let team = diesel::update(
        teams::table
            .filter(teams::organisation_id.eq(admin.organisation_id))
            .filter(teams::id.eq(id))
            .filter(teams::archived_at.is_null()),
    )
    .set((
        teams::archived_at.eq(Utc::now()),
        teams::updated_at.eq(Utc::now()),
    ))
    .returning(Team::as_returning())
    .get_result(conn)
    .await
    .optional()?
    .ok_or_else(|| AppError::conflict("this team was archived meanwhile"))?;
    Ok(team)
}

/// Escape `%`, `_` and `\` so user text matches literally in LIKE patterns.
pub fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

crate::http::operations!(
    /// The teams operations.
    TeamsApi { create_team, list, show, rename, archive }
);
