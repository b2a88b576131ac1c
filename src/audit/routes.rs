//! `GET /api/v1/audit`: the audit log, for admins.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use rocket::State;
use rocket::form::FromForm;
use rocket::get;
use rocket::serde::json::Json;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::Action;
use crate::auth::Admin;
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldError};
use crate::http::{Cursor, Page, check, page_limit, time_param, uuid_param};
use crate::openapi::responses::{Forbidden, Invalid, Unauthorized};
use crate::schema::audit_log;

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub action: Action,
    /// The member who acted, when a member did.
    pub actor_member_id: Option<Uuid>,
    /// The API key that acted, when a machine client did.
    pub actor_api_key_id: Option<Uuid>,
    pub subject_type: Option<String>,
    pub subject_id: Option<Uuid>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

#[derive(Debug, FromForm, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only this action.
    #[param(value_type = Option<Action>)]
    pub action: Option<String>,
    /// Only actions by this member.
    #[param(value_type = Option<Uuid>)]
    pub actor_id: Option<String>,
    /// Only actions about this subject (a member, an API key, a ledger entry...).
    #[param(value_type = Option<Uuid>)]
    pub subject_id: Option<String>,
    /// From this instant (RFC 3339), inclusive.
    #[param(value_type = Option<chrono::DateTime<chrono::Utc>>)]
    pub from: Option<String>,
    /// Until this instant (RFC 3339), exclusive.
    #[param(value_type = Option<chrono::DateTime<chrono::Utc>>)]
    pub to: Option<String>,
    /// Page size, 1-200 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The audit log, newest first (admins).
#[utoipa::path(
    tag = "privacy", operation_id = "list_audit_entries",
    security(("bearer" = [])),
    params(AuditParams),
    responses(
        (status = 200, body = Page<AuditEntry>),
        Unauthorized,
        Forbidden,
        Invalid,
    )
)]
#[get("/api/v1/audit?<params..>")]
pub async fn list(
    db: &State<Db>,
    admin: Admin,
    params: AuditParams,
) -> AppResult<Json<Page<AuditEntry>>> {
    let mut errors = Vec::new();
    let limit = page_limit(params.limit.as_deref(), &mut errors);
    let cursor = Cursor::decode(params.cursor.as_deref(), &mut errors);
    let after = cursor
        .as_ref()
        .and_then(|c| c.time(&mut errors).map(|t| (t, c.id)));
    let action = params.action.as_deref().and_then(|a| {
        Action::parse(a)
            .ok_or(())
            .map_err(|_| errors.push(FieldError::new("action", "is not an audited action")))
            .ok()
    });
    let actor = uuid_param("actor_id", params.actor_id.as_deref(), &mut errors);
    let subject = uuid_param("subject_id", params.subject_id.as_deref(), &mut errors);
    let from = time_param("from", params.from.as_deref(), &mut errors);
    let to = time_param("to", params.to.as_deref(), &mut errors);
    check(errors)?;
    let mut query = audit_log::table
        .filter(audit_log::organisation_id.eq(admin.organisation_id))
        .order((audit_log::at.desc(), audit_log::id.desc()))
        .limit(limit + 1)
        .into_boxed();
    if let Some(a) = action {
        query = query.filter(audit_log::action.eq(a.as_str()));
    }
    if let Some(a) = actor {
        query = query.filter(audit_log::actor_member_id.eq(a));
    }
    if let Some(s) = subject {
        query = query.filter(audit_log::subject_id.eq(s));
    }
    if let Some(f) = from {
        query = query.filter(audit_log::at.ge(f));
    }
    if let Some(t) = to {
        query = query.filter(audit_log::at.lt(t));
    }
    if let Some((t, id)) = after {
        query = query.filter(
            audit_log::at
                .lt(t)
                .or(audit_log::at.eq(t).and(audit_log::id.lt(id))),
        );
    }
    type Row = (
        Uuid,
        DateTime<Utc>,
        String,
        Option<Uuid>,
        Option<Uuid>,
        Option<String>,
        Option<Uuid>,
        serde_json::Value,
    );
    let mut conn = db.conn().await?;
    let rows: Vec<Row> = query
        .select((
            audit_log::id,
            audit_log::at,
            audit_log::action,
            audit_log::actor_member_id,
            audit_log::actor_api_key_id,
            audit_log::subject_type,
            audit_log::subject_id,
            audit_log::details,
        ))
        .load(&mut conn)
        .await?;
    let items = rows
        .into_iter()
        .map(
            |(
                id,
                at,
                action,
                actor_member_id,
                actor_api_key_id,
                subject_type,
                subject_id,
                details,
            )| {
                Ok(AuditEntry {
                    id,
                    at,
                    action: Action::parse(&action).ok_or_else(|| {
                        AppError::internal(format!("unknown audit action {action}"))
                    })?,
                    actor_member_id,
                    actor_api_key_id,
                    subject_type,
                    subject_id,
                    details,
                })
            },
        )
        .collect::<AppResult<Vec<_>>>()?;
    Ok(Json(Page::from_rows(items, limit, |e: &AuditEntry| {
        Cursor::at(e.at, e.id)
    })))
}

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![list]
}
