//! Moderation: any member reports a recognition or a comment they can see, with a reason;
//! admins work through the queue and hide what was reported (a recognition's points are
//! reversed and its pots refunded, as by an undo) or dismiss the report. Nothing is deleted and
//! every decision is audited.
//!
//! - `routes`: reporting, the queue, and the two decisions.
//! - here: the report's view and its queries.

pub mod routes;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::recognition::MemberRef;
use crate::schema::{members, moderation_reports, recognition_comments, recognitions};
use crate::vocabulary::vocabulary;

pub use routes::routes;

vocabulary!(
    /// Where a report stands.
    ReportStatus {
        /// Waiting for an admin.
        Open = "open",
        /// An admin hid what was reported.
        Hidden = "hidden",
        /// An admin kept it.
        Dismissed = "dismissed",
    } field = "status"
);

/// A report as the queue shows it, with what was reported.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Report {
    pub id: Uuid,
    pub recognition_id: Uuid,
    /// Set when a comment of the recognition was reported.
    pub comment_id: Option<Uuid>,
    pub reporter: MemberRef,
    pub reason: String,
    pub status: ReportStatus,
    /// The reported recognition's message, or the reported comment's body.
    pub content: String,
    /// Who wrote it: the recognition's giver or the comment's author.
    pub content_author: Option<MemberRef>,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<Uuid>,
    pub resolution_note: Option<String>,
}

#[derive(Queryable)]
struct Row {
    id: Uuid,
    recognition_id: Uuid,
    comment_id: Option<Uuid>,
    reporter_id: Uuid,
    reporter_name: String,
    reason: String,
    status: String,
    created_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
    resolved_by: Option<Uuid>,
    resolution_note: Option<String>,
}

/// The organisation's reports with their reporters, as [`Row`]s.
macro_rules! reports {
    ($org:expr) => {
        moderation_reports::table
            .inner_join(members::table.on(members::id.eq(moderation_reports::reporter_id)))
            .filter(moderation_reports::organisation_id.eq($org))
            .select((
                moderation_reports::id,
                moderation_reports::recognition_id,
                moderation_reports::comment_id,
                members::id,
                members::display_name,
                moderation_reports::reason,
                moderation_reports::status,
                moderation_reports::created_at,
                moderation_reports::resolved_at,
                moderation_reports::resolved_by,
                moderation_reports::resolution_note,
            ))
    };
}

/// Which reports a page of the queue holds.
pub struct QueueFilter {
    pub status: Option<ReportStatus>,
    /// Oldest first: reports after this (created_at, id).
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

/// A page of the organisation's reports, oldest first, with what each reported.
pub async fn queue(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    filter: &QueueFilter,
) -> AppResult<Vec<Report>> {
    let mut query = reports!(org)
        .order((moderation_reports::created_at, moderation_reports::id))
        .limit(filter.limit)
        .into_boxed();
    if let Some(status) = filter.status {
        query = query.filter(moderation_reports::status.eq(status.as_str()));
    }
    if let Some((t, id)) = filter.after {
        query = query.filter(
            moderation_reports::created_at
                .gt(t)
                .or(moderation_reports::created_at
                    .eq(t)
                    .and(moderation_reports::id.gt(id))),
        );
    }
    let rows: Vec<Row> = query.load(conn).await?;
    views(conn, org, rows).await
}

/// One report of the organisation, or 404.
pub async fn find(conn: &mut AsyncPgConnection, org: Uuid, id: Uuid) -> AppResult<Report> {
    let row: Row = reports!(org)
        .filter(moderation_reports::id.eq(id))
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("report"))?;
    views(conn, org, vec![row])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| AppError::not_found("report"))
}

/// The reports with their content: two queries whatever the page size.
async fn views(conn: &mut AsyncPgConnection, org: Uuid, rows: Vec<Row>) -> AppResult<Vec<Report>> {
    let rids: Vec<Uuid> = rows.iter().map(|r| r.recognition_id).collect();
    let cids: Vec<Uuid> = rows.iter().filter_map(|r| r.comment_id).collect();
    let messages: Vec<(Uuid, String, Option<Uuid>, Option<String>)> = recognitions::table
        .left_join(members::table.on(members::id.nullable().eq(recognitions::giver_id.nullable())))
        .filter(recognitions::organisation_id.eq(org))
        .filter(recognitions::id.eq_any(&rids))
        .select((
            recognitions::id,
            recognitions::message,
            members::id.nullable(),
            members::display_name.nullable(),
        ))
        .load(conn)
        .await?;
    let bodies: Vec<(Uuid, String, Uuid, String)> = recognition_comments::table
        .inner_join(members::table.on(members::id.eq(recognition_comments::author_id)))
        .filter(recognition_comments::organisation_id.eq(org))
        .filter(recognition_comments::id.eq_any(&cids))
        .select((
            recognition_comments::id,
            recognition_comments::body,
            members::id,
            members::display_name,
        ))
        .load(conn)
        .await?;
    let author = |id: Option<Uuid>, name: Option<String>| {
        id.map(|id| MemberRef {
            id,
            display_name: name.unwrap_or_default(),
        })
    };
    Ok(rows
        .into_iter()
        .map(|r| {
            let (content, content_author) = match r.comment_id {
                Some(c) => bodies
                    .iter()
                    .find(|b| b.0 == c)
                    .map(|b| (b.1.clone(), author(Some(b.2), Some(b.3.clone()))))
                    .unwrap_or_default(),
                None => messages
                    .iter()
                    .find(|m| m.0 == r.recognition_id)
                    .map(|m| (m.1.clone(), author(m.2, m.3.clone())))
                    .unwrap_or_default(),
            };
            Report {
                id: r.id,
                recognition_id: r.recognition_id,
                comment_id: r.comment_id,
                reporter: MemberRef {
                    id: r.reporter_id,
                    display_name: r.reporter_name,
                },
                reason: r.reason,
                status: ReportStatus::parse(&r.status).unwrap_or(ReportStatus::Open),
                content,
                content_author,
                created_at: r.created_at,
                resolved_at: r.resolved_at,
                resolved_by: r.resolved_by,
                resolution_note: r.resolution_note,
            }
        })
        .collect())
}
