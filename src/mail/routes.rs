//! The email log (admins): what was emailed to whom, and how it went. Bodies are never shown
//! (they may hold an invite's or a reset's token, and are cleared once sent).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rocket::serde::json::Json;
use rocket::{FromForm, State, get};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::kinds::EmailKind;
use crate::auth::Admin;
use crate::db::Db;
use crate::error::AppResult;
use crate::http::{Cursor, Page, check, page_limit, time_cursor, uuid_param};
use crate::openapi::responses::{Forbidden, Invalid, Unauthorized};
use crate::schema::email_messages;
use crate::vocabulary::vocabulary;

vocabulary!(
    /// Where an email is: waiting to be sent (or tried again), sent, or given up on.
    EmailStatus {
        Pending = "pending",
        Sent = "sent",
        Failed = "failed",
    }
    field = "status"
);

/// An email as the log shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Email {
    pub id: Uuid,
    pub kind: EmailKind,
    /// The member it is for (null once they are erased, when it is deleted with them).
    pub member_id: Option<Uuid>,
    pub to: String,
    pub subject: String,
    pub status: EmailStatus,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    /// When the next attempt is due, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    /// What the SMTP server said last time it failed.
    pub last_error: Option<String>,
}

#[derive(Debug, FromForm, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EmailParams {
    /// Only email to this member.
    #[param(value_type = Option<Uuid>)]
    pub member_id: Option<String>,
    /// Only email in this status.
    #[param(value_type = Option<EmailStatus>)]
    pub status: Option<String>,
    /// Page size, 1-200 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

type Row = (
    Uuid,
    String,
    Option<Uuid>,
    String,
    String,
    String,
    i32,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<String>,
);

/// The organisation's email, newest first (admins): invites, resets, notices and digests,
/// whether each was sent, and the SMTP server's last refusal.
#[utoipa::path(
    tag = "email",
    security(("bearer" = [])),
    params(EmailParams),
    responses((status = 200, body = Page<Email>), Unauthorized, Forbidden, Invalid)
)]
#[get("/api/v1/emails?<params..>")]
pub async fn list(
    db: &State<Db>,
    admin: Admin,
    params: EmailParams,
) -> AppResult<Json<Page<Email>>> {
    let mut errors = Vec::new();
    let limit = page_limit(params.limit.as_deref(), &mut errors);
    let before = time_cursor(params.cursor.as_deref(), &mut errors);
    let member = uuid_param("member_id", params.member_id.as_deref(), &mut errors);
    let status = params
        .status
        .as_deref()
        .and_then(|raw| raw.parse::<EmailStatus>().map_err(|e| errors.push(e)).ok());
    check(errors)?;
    let mut conn = db.conn().await?;
    let rows = load(
        &mut conn,
        admin.organisation_id,
        member,
        status,
        before,
        limit + 1,
    )
    .await?;
    let items = rows.into_iter().map(email).collect();
    Ok(Json(Page::from_rows(items, limit, |e: &Email| {
        Cursor::at(e.created_at, e.id)
    })))
}

/// Up to `limit` of the organisation's email before `before` (time, id), newest first.
async fn load(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Option<Uuid>,
    status: Option<EmailStatus>,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> AppResult<Vec<Row>> {
    let mut query = email_messages::table
        .filter(email_messages::organisation_id.eq(org))
        .into_boxed();
    if let Some(member) = member {
        query = query.filter(email_messages::member_id.eq(member));
    }
    if let Some(status) = status {
        query = query.filter(email_messages::status.eq(status.as_str()));
    }
    if let Some((at, id)) = before {
        query = query.filter(
            email_messages::created_at
                .lt(at)
                .or(email_messages::created_at
                    .eq(at)
                    .and(email_messages::id.lt(id))),
        );
    }
    Ok(query
        .select((
            email_messages::id,
            email_messages::kind,
            email_messages::member_id,
            email_messages::to_address,
            email_messages::subject,
            email_messages::status,
            email_messages::attempts,
            email_messages::created_at,
            email_messages::next_attempt_at,
            email_messages::sent_at,
            email_messages::last_error,
        ))
        .order((email_messages::created_at.desc(), email_messages::id.desc()))
        .limit(limit)
        .load(conn)
        .await?)
}

fn email(r: Row) -> Email {
    let status = EmailStatus::parse(&r.5).unwrap_or(EmailStatus::Pending);
    Email {
        id: r.0,
        kind: EmailKind::parse(&r.1).unwrap_or(EmailKind::Invite),
        member_id: r.2,
        to: r.3,
        subject: r.4,
        status,
        attempts: r.6,
        created_at: r.7,
        next_attempt_at: (status == EmailStatus::Pending).then_some(r.8),
        sent_at: r.9,
        last_error: r.10,
    }
}

crate::http::operations!(
    /// The email log.
    EmailApi { list }
);
