//! Members' rows and the rules that keep them consistent (creation, invites, team moves; role
//! changes and deactivation, which guard the last admin: `lifecycle`). Every query is scoped by
//! organisation; callers pass the caller's organisation, never a client-supplied one.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::dates::{BirthDate, DatesChange};
use super::{Invite, Member, MemberStatus, NewMember, TeamStint};
use crate::audit::{self, Action, Actor};
use crate::auth::{Role, tokens};
use crate::error::{AppError, AppResult};
use crate::http::Cursor;
use crate::mail::outbox::{self, Letter};
use crate::mail::{EmailKind, Mail, notices};
use crate::schema::{member_invites, members, team_memberships, teams};
use crate::sql::lower;
use crate::teams::escape_like;

#[derive(Queryable, Selectable)]
#[diesel(table_name = members)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct MemberRow {
    id: Uuid,
    email: String,
    display_name: String,
    role: String,
    team_id: Option<Uuid>,
    #[diesel(select_expression = teams::name.nullable())]
    #[diesel(select_expression_type = diesel::dsl::Nullable<teams::name>)]
    team_name: Option<String>,
    #[diesel(select_expression = members::password_hash.is_not_null())]
    #[diesel(select_expression_type = diesel::dsl::IsNotNull<members::password_hash>)]
    has_password: bool,
    deactivated_at: Option<DateTime<Utc>>,
    erased_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    birth_month: Option<i16>,
    birth_day: Option<i16>,
    started_on: Option<NaiveDate>,
    employee_number: Option<String>,
}

impl MemberRow {
    /// `reveal`: whether the viewer may see the email and personal dates (admins, HR, the
    /// member themself).
    pub fn into_member(self, reveal: bool) -> AppResult<Member> {
        let role = self
            .role
            .parse::<Role>()
            .map_err(|_| AppError::internal(format!("unknown role in database: {}", self.role)))?;
        let status = if self.erased_at.is_some() {
            MemberStatus::Erased
        } else if self.deactivated_at.is_some() {
            MemberStatus::Deactivated
        } else if !self.has_password {
            MemberStatus::Invited
        } else {
            MemberStatus::Active
        };
        Ok(Member {
            id: self.id,
            email: reveal.then_some(self.email),
            display_name: self.display_name,
            role,
            team_id: self.team_id,
            team_name: self.team_name,
            status,
            deactivated_at: self.deactivated_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
            birth_date: reveal.then(|| {
                BirthDate::from_columns(self.birth_month, self.birth_day).map(|d| d.to_string())
            }),
            started_on: reveal.then_some(self.started_on),
            employee_number: reveal.then_some(self.employee_number),
        })
    }
}

macro_rules! members_with_team {
    () => {
        members::table.left_join(
            teams::table.on(teams::id
                .nullable()
                .eq(members::team_id)
                .and(teams::organisation_id.eq(members::organisation_id))),
        )
    };
}

pub async fn load(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
    reveal_email: bool,
) -> AppResult<Member> {
    members_with_team!()
        .filter(members::organisation_id.eq(org))
        .filter(members::id.eq(id))
        .select(MemberRow::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("member"))?
        .into_member(reveal_email)
}

/// Validated list filters.
pub struct ListFilter {
    pub team_id: Option<Uuid>,
    pub role: Option<Role>,
    /// None = every status.
    pub deactivated: Option<bool>,
    pub search: Option<String>,
    pub limit: i64,
    pub cursor: Option<Cursor>,
}

pub async fn list(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    filter: ListFilter,
    can_search_email: bool,
) -> AppResult<Vec<MemberRow>> {
    let mut query = members_with_team!()
        .filter(members::organisation_id.eq(org))
        .select(MemberRow::as_select())
        .order((lower(members::display_name), members::id))
        .limit(filter.limit + 1)
        .into_boxed();
    if let Some(team) = filter.team_id {
        query = query.filter(members::team_id.eq(team));
    }
    if let Some(role) = filter.role {
        query = query.filter(members::role.eq(role.as_str()));
    }
    match filter.deactivated {
        Some(true) => query = query.filter(members::deactivated_at.is_not_null()),
        Some(false) => query = query.filter(members::deactivated_at.is_null()),
        None => {}
    }
    if let Some(q) = filter.search {
        let pattern = format!("%{}%", escape_like(&q));
        query = if can_search_email {
            query.filter(
                members::display_name
                    .ilike(pattern.clone())
                    .or(members::email.ilike(pattern)),
            )
        } else {
            query.filter(members::display_name.ilike(pattern))
        };
    }
    if let Some(c) = filter.cursor {
        query = query.filter(
            lower(members::display_name)
                .gt(lower(c.key.clone()))
                .or(lower(members::display_name)
                    .eq(lower(c.key))
                    .and(members::id.gt(c.id))),
        );
    }
    Ok(query.load(conn).await?)
}

impl MemberRow {
    pub fn id(&self) -> Uuid {
        self.id
    }
}

/// A team a member may be put in: of the organisation and not archived.
async fn check_team_open(conn: &mut AsyncPgConnection, org: Uuid, team_id: Uuid) -> AppResult<()> {
    let archived: Option<Option<DateTime<Utc>>> = teams::table
        .filter(teams::organisation_id.eq(org))
        .filter(teams::id.eq(team_id))
        .select(teams::archived_at)
        .first(conn)
        .await
        .optional()?;
    match archived {
        None => Err(AppError::invalid(
            "team_id",
            "no team with that id in your organisation",
        )),
        Some(Some(_)) => Err(AppError::conflict(
            "that team is archived; choose a live team",
        )),
        Some(None) => Ok(()),
    }
}

/// Create a member. With `by` (an admin through the API) the creation is audited in the same
/// transaction; without it (bootstrap, the demo, tests) the caller audits if it should.
pub async fn create(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    new: NewMember,
    by: Option<Uuid>,
) -> AppResult<Uuid> {
    if let Some(team) = new.team_id {
        check_team_open(conn, org, team).await?;
    }
    conn.transaction::<_, AppError, _>(async move |conn| {
        let id: Uuid = diesel::insert_into(members::table)
            .values((
                members::organisation_id.eq(org),
                members::email.eq(&new.email),
                members::display_name.eq(&new.display_name),
                members::role.eq(new.role.as_str()),
                members::team_id.eq(new.team_id),
                members::password_hash.eq(&new.password_hash),
                members::birth_month.eq(new.birth_date.map(|d| d.month() as i16)),
                members::birth_day.eq(new.birth_date.map(|d| d.day() as i16)),
                members::started_on.eq(new.started_on),
                members::employee_number.eq(&new.employee_number),
            ))
            .returning(members::id)
            .get_result(conn)
            .await
            .map_err(|e| taken(e, Some(&new.email), new.employee_number.as_deref()))?;
        if let Some(team) = new.team_id {
            diesel::insert_into(team_memberships::table)
                .values((
                    team_memberships::organisation_id.eq(org),
                    team_memberships::member_id.eq(id),
                    team_memberships::team_id.eq(team),
                    team_memberships::moved_by.eq(by),
                ))
                .execute(conn)
                .await?;
        }
        if let Some(admin) = by {
            audit::record(
                conn,
                org,
                Actor::Member(admin),
                Action::MemberCreated,
                Some(("member", id)),
                serde_json::json!({
                    "role": new.role.as_str(),
                    "team_id": new.team_id,
                    "password_set": new.password_hash.is_some(),
                }),
            )
            .await?;
        }
        Ok(id)
    })
    .await
}

/// A new invite token for a member, issued by admin `by` (audited); earlier unused invites stop
/// working. When the server sends email, the invite is emailed to the member (queued in the
/// same transaction) and the token is not returned: only its owner's mailbox sees it.
pub async fn issue_invite(
    conn: &mut AsyncPgConnection,
    mail: &Mail,
    org: Uuid,
    member_id: Uuid,
    ttl: Duration,
    by: Uuid,
) -> AppResult<Invite> {
    let (token, hash) = tokens::new_opaque_token("finv");
    let expires_at = Utc::now() + ttl;
    let emailed = conn
        .transaction::<_, AppError, _>(async |conn| {
            expire_invites(conn, org, member_id).await?;
            diesel::insert_into(member_invites::table)
                .values((
                    member_invites::organisation_id.eq(org),
                    member_invites::member_id.eq(member_id),
                    member_invites::token_hash.eq(hash),
                    member_invites::expires_at.eq(expires_at),
                ))
                .execute(conn)
                .await?;
            audit::record(
                conn,
                org,
                Actor::Member(by),
                Action::InviteCreated,
                Some(("member", member_id)),
                serde_json::json!({ "expires_at": expires_at, "emailed": mail.enabled() }),
            )
            .await?;
            let letter = Letter {
                kind: EmailKind::Invite,
                organisation_id: org,
                member_id,
                to: None,
                dedupe_key: None,
            };
            let link = mail.link("/invite", Some(&token));
            outbox::queue(conn, mail, letter, |r| {
                minijinja::context! { token => &token, link => link, expires => r.local(expires_at) }
            })
            .await
        })
        .await?;
    Ok(Invite {
        invite_token: (!emailed).then_some(token),
        invite_expires_at: expires_at,
        invite_emailed: emailed,
    })
}

pub async fn team_history(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member_id: Uuid,
) -> AppResult<Vec<TeamStint>> {
    type Stint = (
        Uuid,
        String,
        DateTime<Utc>,
        Option<DateTime<Utc>>,
        Option<Uuid>,
    );
    let rows: Vec<Stint> = team_memberships::table
        .inner_join(
            teams::table.on(teams::id
                .eq(team_memberships::team_id)
                .and(teams::organisation_id.eq(team_memberships::organisation_id))),
        )
        .filter(team_memberships::organisation_id.eq(org))
        .filter(team_memberships::member_id.eq(member_id))
        .order((team_memberships::started_at, team_memberships::id))
        .select((
            team_memberships::team_id,
            teams::name,
            team_memberships::started_at,
            team_memberships::ended_at,
            team_memberships::moved_by,
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(team_id, team_name, started_at, ended_at, moved_by)| TeamStint {
                team_id,
                team_name,
                started_at,
                ended_at,
                moved_by,
            },
        )
        .collect())
}

/// Lock the member's row for the rest of the transaction; 404 when not of the organisation.
pub(super) async fn lock_member(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
) -> AppResult<(String, Option<Uuid>, Option<DateTime<Utc>>)> {
    members::table
        .filter(members::organisation_id.eq(org))
        .filter(members::id.eq(id))
        .select((members::role, members::team_id, members::deactivated_at))
        .for_update()
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("member"))
}

/// Expire `member_id`'s pending invites (a new invite replaces them; a deactivated account
/// takes them along).
pub async fn expire_invites(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member_id: Uuid,
) -> AppResult<()> {
    diesel::update(
        member_invites::table
            .filter(member_invites::organisation_id.eq(org))
            .filter(member_invites::member_id.eq(member_id))
            .filter(member_invites::used_at.is_null()),
    )
    .set(member_invites::expires_at.eq(Utc::now()))
    .execute(conn)
    .await?;
    Ok(())
}

/// End `member_id`'s open team stint, if there is one, at `at`.
pub async fn end_stint(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member_id: Uuid,
    at: DateTime<Utc>,
) -> AppResult<()> {
    diesel::update(
        team_memberships::table
            .filter(team_memberships::organisation_id.eq(org))
            .filter(team_memberships::member_id.eq(member_id))
            .filter(team_memberships::ended_at.is_null()),
    )
    .set(team_memberships::ended_at.eq(at))
    .execute(conn)
    .await?;
    Ok(())
}

/// Move a member to another team: the current stint ends, a new one starts.
pub async fn move_to_team(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member_id: Uuid,
    team_id: Uuid,
    by: Uuid,
) -> AppResult<()> {
    conn.transaction::<_, AppError, _>(async move |conn| {
        let (_, current, _) = lock_member(conn, org, member_id).await?;
        check_team_open(conn, org, team_id).await?;
        if current == Some(team_id) {
            return Err(AppError::Conflict {
                detail: "the member is already in that team".into(),
                extra: Some(serde_json::json!({ "team_id": team_id })),
            });
        }
        let now = Utc::now();
        end_stint(conn, org, member_id, now).await?;
        diesel::insert_into(team_memberships::table)
            .values((
                team_memberships::organisation_id.eq(org),
                team_memberships::member_id.eq(member_id),
                team_memberships::team_id.eq(team_id),
                team_memberships::started_at.eq(now),
                team_memberships::moved_by.eq(by),
            ))
            .execute(conn)
            .await?;
        diesel::update(
            members::table
                .filter(members::organisation_id.eq(org))
                .filter(members::id.eq(member_id)),
        )
        .set((members::team_id.eq(team_id), members::updated_at.eq(now)))
        .execute(conn)
        .await?;
        Ok(())
    })
    .await
}

/// Change a member's name, email and personal dates: what is `None` stays as it is.
/// A unique key a write broke, in words: the email or the employee number is another
/// member's.
fn taken(e: diesel::result::Error, email: Option<&str>, number: Option<&str>) -> AppError {
    let on_number = matches!(
        &e,
        diesel::result::Error::DatabaseError(_, info)
            if info.constraint_name() == Some("members_employee_number_key")
    );
    match AppError::from(e) {
        AppError::Conflict { .. } if on_number => AppError::conflict(format!(
            "another member of your organisation has employee number {}",
            number.unwrap_or_default()
        )),
        AppError::Conflict { .. } => AppError::conflict(format!(
            "a member with email {} already exists in your organisation",
            email.unwrap_or_default()
        )),
        other => other,
    }
}

/// A profile change an admin asks for: each field `None` is left as it is.
#[derive(Default)]
pub struct ProfileChange {
    pub display_name: Option<String>,
    pub email: Option<String>,
    /// `Some(None)` clears it.
    pub employee_number: Option<Option<String>>,
}

/// Apply an admin's profile change; a changed email is told to the address it replaces (in
/// the same transaction).
pub async fn update_profile(
    conn: &mut AsyncPgConnection,
    mail: &Mail,
    org: Uuid,
    member_id: Uuid,
    change: ProfileChange,
    dates: DatesChange,
) -> AppResult<()> {
    let ProfileChange {
        display_name,
        email,
        employee_number,
    } = change;
    conn.transaction::<_, AppError, _>(async |conn| {
        let before: Option<String> = members::table
            .filter(members::organisation_id.eq(org))
            .filter(members::id.eq(member_id))
            .select(members::email)
            .for_update()
            .first(conn)
            .await
            .optional()?;
        let Some(before) = before else {
            return Err(AppError::not_found("member"));
        };
        diesel::update(
            members::table
                .filter(members::organisation_id.eq(org))
                .filter(members::id.eq(member_id)),
        )
        .set((
            display_name.map(|v| members::display_name.eq(v)),
            email.clone().map(|v| members::email.eq(v)),
            dates.birth_date.map(|d| {
                (
                    members::birth_month.eq(d.map(|d| d.month() as i16)),
                    members::birth_day.eq(d.map(|d| d.day() as i16)),
                )
            }),
            dates.started_on.map(|d| members::started_on.eq(d)),
            employee_number
                .clone()
                .map(|n| members::employee_number.eq(n)),
            members::updated_at.eq(Utc::now()),
        ))
        .execute(conn)
        .await
        .map_err(|e| {
            taken(
                e,
                email.as_deref(),
                employee_number.clone().flatten().as_deref(),
            )
        })?;
        match &email {
            Some(new) => notices::email_changed(conn, mail, org, member_id, &before, new).await,
            None => Ok(()),
        }
    })
    .await
}

pub async fn is_erased(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member_id: Uuid,
) -> AppResult<bool> {
    Ok(members::table
        .filter(members::organisation_id.eq(org))
        .filter(members::id.eq(member_id))
        .select(members::erased_at.is_not_null())
        .first::<bool>(conn)
        .await
        .optional()?
        .unwrap_or(false))
}
