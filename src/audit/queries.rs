//! Reading the audit log: its entries, newest first, filtered.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::Action;
use crate::error::{AppError, AppResult};
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

/// Which entries a page holds; every filter is optional and they combine with AND.
pub struct AuditFilter {
    pub action: Option<Action>,
    pub actor: Option<Uuid>,
    pub subject: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Where the previous page ended: (`at`, `id`).
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

/// One page (plus one entry, to tell whether more exist) of the organisation's log.
pub async fn list(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    filter: &AuditFilter,
) -> AppResult<Vec<AuditEntry>> {
    let mut query = audit_log::table
        .filter(audit_log::organisation_id.eq(org))
        .order((audit_log::at.desc(), audit_log::id.desc()))
        .limit(filter.limit + 1)
        .into_boxed();
    if let Some(a) = filter.action {
        query = query.filter(audit_log::action.eq(a.as_str()));
    }
    if let Some(a) = filter.actor {
        query = query.filter(audit_log::actor_member_id.eq(a));
    }
    if let Some(s) = filter.subject {
        query = query.filter(audit_log::subject_id.eq(s));
    }
    if let Some(f) = filter.from {
        query = query.filter(audit_log::at.ge(f));
    }
    if let Some(t) = filter.to {
        query = query.filter(audit_log::at.lt(t));
    }
    if let Some((t, id)) = filter.after {
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
        .load(conn)
        .await?;
    rows.into_iter()
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
        .collect::<AppResult<Vec<_>>>()
}
