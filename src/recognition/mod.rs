//! Recognition: team leads, admins and peers recognise members with a message and points.
//!
//! Peers give from a monthly allowance, team leads from a monthly budget set by an admin, and
//! admins without a budget. Every recipient's points are ledger entries written in the same
//! transaction as the recognition and the spend, so points are neither created nor lost.

pub mod giving;
pub mod routes;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::schema::{members, recognition_reactions, recognition_recipients, recognitions};
use crate::vocabulary::Dimension;
use giving::GivingKind;

pub use routes::routes;

/// A member as shown inside a recognition.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberRef {
    pub id: Uuid,
    pub display_name: String,
}

/// The reactions members may leave on a recognition (one of each kind per member).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReactionKind {
    Applause,
    Heart,
    Celebrate,
    Insightful,
    Star,
}

impl ReactionKind {
    pub const ALL: [ReactionKind; 5] = [
        ReactionKind::Applause,
        ReactionKind::Heart,
        ReactionKind::Celebrate,
        ReactionKind::Insightful,
        ReactionKind::Star,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReactionKind::Applause => "applause",
            ReactionKind::Heart => "heart",
            ReactionKind::Celebrate => "celebrate",
            ReactionKind::Insightful => "insightful",
            ReactionKind::Star => "star",
        }
    }

    pub fn parse(s: &str) -> Option<ReactionKind> {
        ReactionKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReactionCount {
    pub kind: ReactionKind,
    pub count: i64,
    /// Whether the caller left this reaction.
    pub mine: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Recognition {
    pub id: Uuid,
    pub giver: MemberRef,
    /// Which pot paid for it.
    pub kind: GivingKind,
    pub message: String,
    /// Points each recipient received.
    pub points_each: i32,
    /// points_each times the number of recipients.
    pub total_points: i64,
    pub dimension: Option<Dimension>,
    pub initiative_id: Option<Uuid>,
    pub recipients: Vec<MemberRef>,
    pub reactions: Vec<ReactionCount>,
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Clone)]
#[diesel(table_name = recognitions)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct RecognitionRow {
    pub id: Uuid,
    pub giver_id: Uuid,
    pub kind: String,
    pub message: String,
    pub points_each: i32,
    pub dimension: Option<String>,
    pub initiative_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// Turn rows into API views: names of givers and recipients and reaction counts, in three
/// queries whatever the page size.
pub async fn views(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    viewer: Uuid,
    rows: Vec<RecognitionRow>,
) -> AppResult<Vec<Recognition>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let recipients: Vec<(Uuid, Uuid, String)> = recognition_recipients::table
        .inner_join(
            members::table.on(members::id
                .eq(recognition_recipients::member_id)
                .and(members::organisation_id.eq(recognition_recipients::organisation_id))),
        )
        .filter(recognition_recipients::organisation_id.eq(org))
        .filter(recognition_recipients::recognition_id.eq_any(&ids))
        .order(members::display_name)
        .select((
            recognition_recipients::recognition_id,
            members::id,
            members::display_name,
        ))
        .load(conn)
        .await?;
    let giver_ids: Vec<Uuid> = rows.iter().map(|r| r.giver_id).collect();
    let givers: HashMap<Uuid, String> = members::table
        .filter(members::organisation_id.eq(org))
        .filter(members::id.eq_any(&giver_ids))
        .select((members::id, members::display_name))
        .load::<(Uuid, String)>(conn)
        .await?
        .into_iter()
        .collect();
    let reactions: Vec<(Uuid, String, Uuid)> = recognition_reactions::table
        .filter(recognition_reactions::organisation_id.eq(org))
        .filter(recognition_reactions::recognition_id.eq_any(&ids))
        .select((
            recognition_reactions::recognition_id,
            recognition_reactions::kind,
            recognition_reactions::member_id,
        ))
        .load(conn)
        .await?;
    let mut by_recognition: HashMap<Uuid, Vec<MemberRef>> = HashMap::new();
    for (rid, id, display_name) in recipients {
        by_recognition
            .entry(rid)
            .or_default()
            .push(MemberRef { id, display_name });
    }
    let mut counts: HashMap<Uuid, Vec<ReactionCount>> = HashMap::new();
    for (rid, kind, member) in reactions {
        let Some(kind) = ReactionKind::parse(&kind) else {
            continue;
        };
        let list = counts.entry(rid).or_default();
        match list.iter_mut().find(|c| c.kind == kind) {
            Some(c) => {
                c.count += 1;
                c.mine |= member == viewer;
            }
            None => list.push(ReactionCount {
                kind,
                count: 1,
                mine: member == viewer,
            }),
        }
    }
    rows.into_iter()
        .map(|r| {
            let recipients = by_recognition.remove(&r.id).unwrap_or_default();
            let mut reactions = counts.remove(&r.id).unwrap_or_default();
            reactions.sort_by_key(|c| c.kind.as_str());
            Ok(Recognition {
                id: r.id,
                giver: MemberRef {
                    id: r.giver_id,
                    display_name: givers.get(&r.giver_id).cloned().unwrap_or_default(),
                },
                kind: GivingKind::parse(&r.kind).ok_or_else(|| {
                    AppError::internal(format!("unknown recognition kind {}", r.kind))
                })?,
                message: r.message,
                points_each: r.points_each,
                total_points: i64::from(r.points_each) * recipients.len() as i64,
                dimension: r
                    .dimension
                    .as_deref()
                    .and_then(|d| Dimension::parse_field(d, "dimension").ok()),
                initiative_id: r.initiative_id,
                recipients,
                reactions,
                created_at: r.created_at,
            })
        })
        .collect()
}

pub async fn load(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    viewer: Uuid,
    id: Uuid,
) -> AppResult<Recognition> {
    let row: RecognitionRow = recognitions::table
        .filter(recognitions::organisation_id.eq(org))
        .filter(recognitions::id.eq(id))
        .select(RecognitionRow::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("recognition"))?;
    views(conn, org, viewer, vec![row])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| AppError::not_found("recognition"))
}
