//! Member endpoints, `GET /api/v1/me` and `PATCH /api/v1/me`.

use rocket::State;
use rocket::form::FromForm;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{get, patch, post, put};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::input::{ChangeRole, CreateMember, MoveMember, UpdateMe, UpdateMember};
use super::lifecycle;
use super::queries::{self, ListFilter};
use super::{CreatedMember, Invite, Member, MemberDetail};
use crate::auth::{Admin, AuthPolicy, Caller, Role, passwords};
use crate::db::Db;
use crate::error::AppResult;
use crate::http::{Cursor, JsonBody, Page, check, page_limit, path_id, uuid_param};
use crate::mail::Mail;
use crate::openapi::responses::{Forbidden, Invalid, NotFound, Unauthorized};
use crate::organisations::{self, Organisation};
use crate::teams::{self, Team};
use crate::validation;
use crate::vocabulary::vocabulary;

type Problem = crate::error::Problem;

#[derive(Debug, FromForm, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MemberFilter {
    /// Only members of this team.
    #[param(value_type = Option<Uuid>)]
    pub team_id: Option<String>,
    /// Only members with this role: employee, team_lead, hr, admin.
    #[param(value_type = Option<Role>)]
    pub role: Option<String>,
    /// `active` (default: can log in or invited), `deactivated`, or `all`.
    #[param(value_type = Option<StatusFilter>, inline)]
    pub status: Option<String>,
    /// Name contains this text (and, for admins and HR, email), case-insensitive; at most 100
    /// characters, no control characters.
    pub q: Option<String>,
    /// Page size, 1-200 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

vocabulary!(
    /// Values of `status` (the filter is read as text so a bad value is named).
    StatusFilter {
        Active = "active",
        Deactivated = "deactivated",
        All = "all",
    } field = "status"
);

/// Whether `viewer` may see `member_id`'s email address.
fn reveals_email(viewer: &Caller, member_id: Uuid) -> bool {
    viewer.is_any(&[Role::Admin, Role::Hr]) || viewer.member_id == member_id
}

/// Create a member (admins), with an initial password or an invite: emailed to them where the
/// server sends email (`invite_emailed`), else a token in the answer to hand over.
#[utoipa::path(
    tag = "members",
    security(("bearer" = [])),
    request_body = CreateMember,
    responses(
        (status = 201, body = CreatedMember),
        Unauthorized,
        Forbidden,
        (status = 409, description = "The email is taken, or the team is archived", body = Problem, content_type = "application/problem+json"),
        Invalid,
        (status = 503, description = "The password hasher is saturated, or the database is unavailable; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/members", data = "<body>")]
pub async fn create(
    db: &State<Db>,
    policy: &State<AuthPolicy>,
    hasher: &State<passwords::Hasher>,
    mail: &State<Mail>,
    admin: Admin,
    body: JsonBody<CreateMember>,
) -> AppResult<(Status, Json<CreatedMember>)> {
    let new = body.0.parse(hasher).await?;
    let mut conn = db.conn().await?;
    let org = admin.organisation_id;
    let invited = new.password_hash.is_none();
    let id = queries::create(&mut conn, org, new, Some(admin.member_id)).await?;
    let invite = if invited {
        Some(
            queries::issue_invite(&mut conn, mail, org, id, policy.invite_ttl, admin.member_id)
                .await?,
        )
    } else {
        None
    };
    let member = queries::load(&mut conn, org, id, true).await?;
    tracing::info!(organisation_id = %org, member_id = %id, by = %admin.member_id, "member created");
    Ok((
        Status::Created,
        Json(CreatedMember {
            member,
            invite_expires_at: invite.as_ref().map(|i| i.invite_expires_at),
            invite_emailed: invite.as_ref().map(|i| i.invite_emailed),
            invite_token: invite.and_then(|i| i.invite_token),
        }),
    ))
}

/// List members by name, filtered and paginated (any member; emails for admins and HR only).
#[utoipa::path(
    tag = "members",
    security(("bearer" = [])),
    params(MemberFilter),
    responses(
        (status = 200, body = Page<Member>),
        Unauthorized,
        Invalid,
    )
)]
#[get("/api/v1/members?<filter..>")]
pub async fn list(
    db: &State<Db>,
    caller: Caller,
    filter: MemberFilter,
) -> AppResult<Json<Page<Member>>> {
    let list = list_filter(&filter)?;
    let limit = list.limit;
    let staff = caller.is_any(&[Role::Admin, Role::Hr]);
    let mut conn = db.conn().await?;
    let rows = queries::list(&mut conn, caller.organisation_id, list, staff).await?;
    let members = rows
        .into_iter()
        .map(|row| {
            let reveal = staff || row.id() == caller.member_id;
            row.into_member(reveal)
        })
        .collect::<AppResult<Vec<Member>>>()?;
    Ok(Json(Page::from_rows(members, limit, |m: &Member| Cursor {
        key: m.display_name.clone(),
        id: m.id,
    })))
}

/// The filter a list request names, each parameter checked; every problem named at once.
fn list_filter(filter: &MemberFilter) -> AppResult<ListFilter> {
    let mut errors = Vec::new();
    let limit = page_limit(filter.limit.as_deref(), &mut errors);
    let cursor = Cursor::decode(filter.cursor.as_deref(), &mut errors);
    let team_id = uuid_param("team_id", filter.team_id.as_deref(), &mut errors);
    let role = filter
        .role
        .as_deref()
        .and_then(|r| match r.parse::<Role>() {
            Ok(role) => Some(role),
            Err(e) => {
                errors.push(e);
                None
            }
        });
    let deactivated =
        match StatusFilter::param(filter.status.as_deref(), StatusFilter::Active, &mut errors) {
            Some(StatusFilter::Active) => Some(false),
            Some(StatusFilter::Deactivated) => Some(true),
            Some(StatusFilter::All) | None => None,
        };
    let search = validation::search("q", filter.q.as_deref(), &mut errors);
    check(errors)?;
    Ok(ListFilter {
        team_id,
        role,
        deactivated,
        search,
        limit,
        cursor,
    })
}

/// A member with their team history (any member; email for admins, HR and themself).
#[utoipa::path(
    tag = "members",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Member id")),
    responses(
        (status = 200, body = MemberDetail),
        Unauthorized,
        NotFound,
    )
)]
#[get("/api/v1/members/<id>")]
pub async fn show(db: &State<Db>, caller: Caller, id: &str) -> AppResult<Json<MemberDetail>> {
    let id = path_id(id, "member")?;
    let mut conn = db.conn().await?;
    let member = queries::load(
        &mut conn,
        caller.organisation_id,
        id,
        reveals_email(&caller, id),
    )
    .await?;
    let team_history = queries::team_history(&mut conn, caller.organisation_id, id).await?;
    Ok(Json(MemberDetail {
        member,
        team_history,
    }))
}

/// Change a member's name, email or personal dates (admins).
#[utoipa::path(
    tag = "members",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Member id")),
    request_body = UpdateMember,
    responses(
        (status = 200, body = Member),
        Unauthorized,
        Forbidden,
        NotFound,
        (status = 409, description = "The email or the employee number is another member's", body = Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[patch("/api/v1/members/<id>", data = "<body>")]
pub async fn update(
    db: &State<Db>,
    mail: &State<Mail>,
    admin: Admin,
    id: &str,
    body: JsonBody<UpdateMember>,
) -> AppResult<Json<Member>> {
    let id = path_id(id, "member")?;
    let req = body.0;
    let mut errors = Vec::new();
    let dates = req.dates(&mut errors);
    let display_name = req
        .display_name
        .map(|n| validation::text("display_name", &n, 120, &mut errors));
    let email = req
        .email
        .map(|e| validation::email("email", &e, &mut errors));
    let employee_number = req
        .employee_number
        .map(|n| n.map(|n| validation::employee_number("employee_number", &n, &mut errors)));
    check(errors)?;
    let change = queries::ProfileChange {
        display_name,
        email,
        employee_number,
    };
    let mut conn = db.conn().await?;
    let org = admin.organisation_id;
    queries::update_profile(&mut conn, mail, org, id, change, dates).await?;
    Ok(Json(
        queries::load(&mut conn, admin.organisation_id, id, true).await?,
    ))
}

/// Change a member's role (admins). The last active admin cannot be demoted.
#[utoipa::path(
    tag = "members",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Member id")),
    request_body = ChangeRole,
    responses(
        (status = 200, body = Member),
        Unauthorized,
        Forbidden,
        NotFound,
        (status = 409, description = "Would leave the organisation without an admin", body = Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[put("/api/v1/members/<id>/role", data = "<body>")]
pub async fn change_role(
    db: &State<Db>,
    admin: Admin,
    id: &str,
    body: JsonBody<ChangeRole>,
) -> AppResult<Json<Member>> {
    let id = path_id(id, "member")?;
    let mut conn = db.conn().await?;
    lifecycle::set_role(
        &mut conn,
        admin.organisation_id,
        id,
        body.0.role,
        admin.member_id,
    )
    .await?;
    tracing::info!(organisation_id = %admin.organisation_id, member_id = %id, role = %body.0.role, by = %admin.member_id, "role changed");
    Ok(Json(
        queries::load(&mut conn, admin.organisation_id, id, true).await?,
    ))
}

/// Move a member to another team (admins). The team history keeps the previous stint.
#[utoipa::path(
    tag = "members",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Member id")),
    request_body = MoveMember,
    responses(
        (status = 200, body = MemberDetail),
        Unauthorized,
        Forbidden,
        NotFound,
        (status = 409, description = "Already in that team, or the team is archived", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No such team in the organisation", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/members/<id>/move", data = "<body>")]
pub async fn move_member(
    db: &State<Db>,
    admin: Admin,
    id: &str,
    body: JsonBody<MoveMember>,
) -> AppResult<Json<MemberDetail>> {
    let id = path_id(id, "member")?;
    let mut conn = db.conn().await?;
    queries::move_to_team(
        &mut conn,
        admin.organisation_id,
        id,
        body.0.team_id,
        admin.member_id,
    )
    .await?;
    let member = queries::load(&mut conn, admin.organisation_id, id, true).await?;
    let team_history = queries::team_history(&mut conn, admin.organisation_id, id).await?;
    Ok(Json(MemberDetail {
        member,
        team_history,
    }))
}

/// Deactivate a member (admins): they can no longer log in and their sessions end.
#[utoipa::path(
    tag = "members",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Member id")),
    responses(
        (status = 200, body = Member),
        Unauthorized,
        Forbidden,
        NotFound,
        (status = 409, description = "Already deactivated, or the last admin", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/members/<id>/deactivate")]
pub async fn deactivate(db: &State<Db>, admin: Admin, id: &str) -> AppResult<Json<Member>> {
    let id = path_id(id, "member")?;
    let mut conn = db.conn().await?;
    let by = crate::audit::Actor::Member(admin.member_id);
    lifecycle::deactivate(&mut conn, admin.organisation_id, id, by).await?;
    tracing::info!(organisation_id = %admin.organisation_id, member_id = %id, by = %admin.member_id, "member deactivated");
    Ok(Json(
        queries::load(&mut conn, admin.organisation_id, id, true).await?,
    ))
}

/// Reactivate a deactivated member (admins).
#[utoipa::path(
    tag = "members",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Member id")),
    responses(
        (status = 200, body = Member),
        Unauthorized,
        Forbidden,
        NotFound,
        (status = 409, description = "The member is active", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/members/<id>/reactivate")]
pub async fn reactivate(db: &State<Db>, admin: Admin, id: &str) -> AppResult<Json<Member>> {
    let id = path_id(id, "member")?;
    let mut conn = db.conn().await?;
    let by = crate::audit::Actor::Member(admin.member_id);
    lifecycle::reactivate(&mut conn, admin.organisation_id, id, by).await?;
    Ok(Json(
        queries::load(&mut conn, admin.organisation_id, id, true).await?,
    ))
}

/// Issue a fresh invite (admins): for members who lost theirs or forgot their password. Emailed
/// to them where the server sends email, else answered as a token. Earlier unused invites of
/// the member stop working.
#[utoipa::path(
    tag = "members",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Member id")),
    responses(
        (status = 201, body = Invite),
        Unauthorized,
        Forbidden,
        NotFound,
        (status = 409, description = "The member is deactivated", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/members/<id>/invite")]
pub async fn invite(
    db: &State<Db>,
    policy: &State<AuthPolicy>,
    mail: &State<Mail>,
    admin: Admin,
    id: &str,
) -> AppResult<(Status, Json<Invite>)> {
    let id = path_id(id, "member")?;
    let mut conn = db.conn().await?;
    let member = queries::load(&mut conn, admin.organisation_id, id, true).await?;
    if member.deactivated_at.is_some() {
        return Err(crate::error::AppError::conflict(
            "the member is deactivated; reactivate them first",
        ));
    }
    let invite = queries::issue_invite(
        &mut conn,
        mail,
        admin.organisation_id,
        id,
        policy.invite_ttl,
        admin.member_id,
    )
    .await?;
    Ok((Status::Created, Json(invite)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    #[serde(flatten)]
    pub member: Member,
    pub team: Option<Team>,
    pub organisation: Organisation,
}

/// The caller's profile, team and organisation.
#[utoipa::path(
    tag = "me",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Me),
        Unauthorized,
    )
)]
#[get("/api/v1/me")]
pub async fn me(db: &State<Db>, caller: Caller) -> AppResult<Json<Me>> {
    let mut conn = db.conn().await?;
    Ok(Json(load_me(&mut conn, &caller).await?))
}

/// Change one's own personal dates (any member): birthday and start date. Admins, HR and the
/// member see them; colleagues only see the celebrations they lead to.
#[utoipa::path(
    tag = "me",
    security(("bearer" = [])),
    request_body = UpdateMe,
    responses(
        (status = 200, body = Me),
        Unauthorized,
        Invalid,
    )
)]
#[patch("/api/v1/me", data = "<body>")]
pub async fn update_me(
    db: &State<Db>,
    caller: Caller,
    body: JsonBody<UpdateMe>,
) -> AppResult<Json<Me>> {
    let mut errors = Vec::new();
    let dates = body.0.dates(&mut errors);
    check(errors)?;
    let mut conn = db.conn().await?;
    let (org, id) = (caller.organisation_id, caller.member_id);
    queries::update_profile(&mut conn, &Mail::off(), org, id, Default::default(), dates).await?;
    Ok(Json(load_me(&mut conn, &caller).await?))
}

/// The caller's profile, team and organisation.
async fn load_me(conn: &mut diesel_async::AsyncPgConnection, caller: &Caller) -> AppResult<Me> {
    let member = queries::load(conn, caller.organisation_id, caller.member_id, true).await?;
    let team = match member.team_id {
        Some(t) => Some(teams::find(conn, caller.organisation_id, t).await?),
        None => None,
    };
    let organisation = organisations::find(conn, caller.organisation_id).await?;
    Ok(Me {
        member,
        team,
        organisation,
    })
}

crate::http::operations!(
    /// The members operations.
    MembersApi {
        create,
        list,
        show,
        update,
        change_role,
        move_member,
        deactivate,
        reactivate,
        invite,
        me,
        update_me,
    }
);
