//! `GET /api/v1/audit`: the audit log, for admins.

use rocket::State;
use rocket::form::FromForm;
use rocket::get;
use rocket::serde::json::Json;
use utoipa::IntoParams;

use super::Action;
use super::queries::{self, AuditEntry, AuditFilter};
use crate::auth::Admin;
use crate::db::Db;
use crate::error::{AppResult, FieldError};
use crate::http::{Cursor, Page, check, page_limit, time_cursor, time_param, uuid_param};
use crate::openapi::responses::{Forbidden, Invalid, Unauthorized};

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
    let after = time_cursor(params.cursor.as_deref(), &mut errors);
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
    let filter = AuditFilter {
        action,
        actor,
        subject,
        from,
        to,
        after,
        limit,
    };
    let mut conn = db.conn().await?;
    let items = queries::list(&mut conn, admin.organisation_id, &filter).await?;
    Ok(Json(Page::from_rows(items, limit, |e: &AuditEntry| {
        Cursor::at(e.at, e.id)
    })))
}

crate::http::operations!(
    /// The audit log.
    AuditApi { list }
);
