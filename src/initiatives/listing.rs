//! The list of initiatives: its filter, its two orders and the cursors that page through them.

use chrono::{DateTime, SecondsFormat, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::queries::{InitiativeRow, with_author};
use super::{Initiative, InitiativeStatus};
use crate::error::{AppResult, FieldError};
use crate::http::Cursor;
use crate::schema::{initiatives, members};
use crate::vocabulary::{Channel, Dimension, JourneyStage, vocabulary};

vocabulary!(
    /// How a list is ordered: `newest` (default) or `priority`.
    Sort {
        /// `created_at` desc, `id` desc.
        Newest = "newest",
        /// `priority` desc, `created_at` desc, `id` desc.
        Priority = "priority",
    } field = "sort"
);

/// Where the previous page ended.
#[derive(Debug, Clone, Copy)]
pub struct After {
    pub priority: i16,
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

impl Sort {
    /// The cursor after `i` in this order.
    pub fn cursor_of(self, i: &Initiative) -> Cursor {
        match self {
            Sort::Newest => Cursor::at(i.created_at, i.id),
            Sort::Priority => Cursor {
                key: format!(
                    "{}|{}",
                    i.priority,
                    i.created_at.to_rfc3339_opts(SecondsFormat::Micros, true)
                ),
                id: i.id,
            },
        }
    }

    /// Read a cursor this order produced; a cursor of the other order is refused.
    pub fn after(self, c: &Cursor, errors: &mut Vec<FieldError>) -> Option<After> {
        let parsed = match self {
            Sort::Newest => parse_time(&c.key).map(|created_at| After {
                priority: 0,
                created_at,
                id: c.id,
            }),
            Sort::Priority => c.key.split_once('|').and_then(|(p, t)| {
                Some(After {
                    priority: p.parse().ok()?,
                    created_at: parse_time(t)?,
                    id: c.id,
                })
            }),
        };
        if parsed.is_none() {
            errors.push(FieldError::new(
                "cursor",
                "is not a cursor this API returned for this sort; start again without it",
            ));
        }
        parsed
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// What a list asks for; every filter is optional and they combine with AND.
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    pub author_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    pub status: Option<InitiativeStatus>,
    pub dimension: Option<Dimension>,
    pub channel: Option<Channel>,
    pub journey_stage: Option<JourneyStage>,
    /// `created_at >= from`.
    pub from: Option<DateTime<Utc>>,
    /// `created_at < to`.
    pub to: Option<DateTime<Utc>>,
}

/// One page (plus one row, to tell whether more exist) of the organisation's initiatives.
pub async fn list(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    filter: &ListFilter,
    sort: Sort,
    after: Option<After>,
    limit: i64,
) -> AppResult<Vec<Initiative>> {
    let mut query = with_author!()
        .filter(initiatives::organisation_id.eq(org))
        .select((InitiativeRow::as_select(), members::display_name))
        .limit(limit + 1)
        .into_boxed();
    if let Some(a) = filter.author_id {
        query = query.filter(initiatives::author_id.eq(a));
    }
    if let Some(t) = filter.team_id {
        query = query.filter(initiatives::team_id.eq(t));
    }
    if let Some(s) = filter.status {
        query = query.filter(initiatives::status.eq(s.as_str()));
    }
    if let Some(d) = filter.dimension {
        query = query.filter(initiatives::dimension.eq(d.as_str()));
    }
    if let Some(c) = filter.channel {
        query = query.filter(initiatives::channel.eq(c.as_str()));
    }
    if let Some(j) = filter.journey_stage {
        query = query.filter(initiatives::journey_stage.eq(j.as_str()));
    }
    if let Some(from) = filter.from {
        query = query.filter(initiatives::created_at.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(initiatives::created_at.lt(to));
    }
    query = match sort {
        Sort::Newest => {
            if let Some(a) = after {
                query = query.filter(
                    initiatives::created_at
                        .lt(a.created_at)
                        .or(initiatives::created_at
                            .eq(a.created_at)
                            .and(initiatives::id.lt(a.id))),
                );
            }
            query.order((initiatives::created_at.desc(), initiatives::id.desc()))
        }
        Sort::Priority => {
            if let Some(a) = after {
                query = query.filter(
                    initiatives::priority
                        .lt(a.priority)
                        .or(initiatives::priority
                            .eq(a.priority)
                            .and(initiatives::created_at.lt(a.created_at)))
                        .or(initiatives::priority
                            .eq(a.priority)
                            .and(initiatives::created_at.eq(a.created_at))
                            .and(initiatives::id.lt(a.id))),
                );
            }
            query.order((
                initiatives::priority.desc(),
                initiatives::created_at.desc(),
                initiatives::id.desc(),
            ))
        }
    };
    let rows: Vec<(InitiativeRow, String)> = query.load(conn).await?;
    rows.into_iter()
        .map(|(row, author)| row.into_initiative(author))
        .collect()
}
