//! A member's choices: which kinds of event notify them (all, until they turn some off) and
//! their quiet hours, in their time zone (else the organisation's). A kind turned off is not
//! written to their inbox at all; a notification written in quiet hours is kept in the inbox,
//! marked `quiet`, and not pushed to their open streams.

use std::collections::BTreeMap;

use chrono::NaiveTime;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{AppResult, FieldError};
use crate::events::Kind;
use crate::http::check;
use crate::schema::{notification_preferences, notification_settings};
use crate::validation;

/// Quiet hours: from `start` (included) to `end` (excluded), local time; a window that ends
/// before it starts wraps midnight (`22:00`-`07:00`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    /// `HH:MM`, 24-hour clock.
    #[schema(example = "22:00")]
    pub start: String,
    /// `HH:MM`, 24-hour clock; not equal to `start`.
    #[schema(example = "07:00")]
    pub end: String,
    /// An IANA zone (`Europe/Oslo`); absent or null: the organisation's.
    pub time_zone: Option<String>,
}

/// The caller's notification preferences.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    /// Per kind of event, whether it notifies. Every kind is listed in answers; in a `PUT`, a
    /// kind left out notifies.
    #[schema(value_type = BTreeMap<String, bool>, example = json!({"recognition.received": true, "win.commented": false}))]
    pub events: BTreeMap<String, bool>,
    /// None: no quiet hours.
    pub quiet_hours: Option<QuietHours>,
}

/// What a valid `PUT` holds.
struct Parsed {
    off: Vec<Kind>,
    quiet: Option<(NaiveTime, NaiveTime, Option<String>)>,
}

fn parse_time(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> Option<NaiveTime> {
    let t = NaiveTime::parse_from_str(raw.trim(), "%H:%M").ok();
    if t.is_none() {
        errors.push(FieldError::new(
            field,
            "must be a time as HH:MM (00:00-23:59)",
        ));
    }
    t
}

async fn parse(conn: &mut AsyncPgConnection, p: &Preferences) -> AppResult<Parsed> {
    let mut errors = Vec::new();
    let mut off = Vec::new();
    for (kind, enabled) in &p.events {
        match Kind::parse(kind) {
            Some(k) if !enabled => off.push(k),
            Some(_) => {}
            None => errors.push(FieldError::new(
                format!("events.{kind}"),
                "is not a kind of event",
            )),
        }
    }
    let mut quiet = None;
    if let Some(q) = &p.quiet_hours {
        let start = parse_time("quiet_hours.start", &q.start, &mut errors);
        let end = parse_time("quiet_hours.end", &q.end, &mut errors);
        if start.is_some() && start == end {
            errors.push(FieldError::new("quiet_hours.end", "must differ from start"));
        }
        let zone = q
            .time_zone
            .as_deref()
            .map(|z| validation::time_zone("quiet_hours.time_zone", z, &mut errors));
        check(std::mem::take(&mut errors))?;
        if let Some(zone) = &zone {
            validation::time_zone_known_to_database(
                conn,
                "quiet_hours.time_zone",
                zone,
                &mut errors,
            )
            .await?;
        }
        quiet = start.zip(end).map(|(s, e)| (s, e, zone));
    }
    check(errors)?;
    Ok(Parsed { off, quiet })
}

/// `member`'s preferences.
pub async fn load(conn: &mut AsyncPgConnection, org: Uuid, member: Uuid) -> AppResult<Preferences> {
    let off: Vec<String> = notification_preferences::table
        .filter(notification_preferences::organisation_id.eq(org))
        .filter(notification_preferences::member_id.eq(member))
        .filter(notification_preferences::enabled.eq(false))
        .select(notification_preferences::kind)
        .load(conn)
        .await?;
    let events = Kind::ALL
        .iter()
        .map(|k| (k.as_str().to_string(), !off.iter().any(|o| o == k.as_str())))
        .collect();
    type Quiet = (Option<NaiveTime>, Option<NaiveTime>, Option<String>);
    let quiet: Option<Quiet> = notification_settings::table
        .filter(notification_settings::organisation_id.eq(org))
        .filter(notification_settings::member_id.eq(member))
        .select((
            notification_settings::quiet_start,
            notification_settings::quiet_end,
            notification_settings::time_zone,
        ))
        .first(conn)
        .await
        .optional()?;
    let quiet_hours = match quiet {
        Some((Some(start), Some(end), time_zone)) => Some(QuietHours {
            start: start.format("%H:%M").to_string(),
            end: end.format("%H:%M").to_string(),
            time_zone,
        }),
        _ => None,
    };
    Ok(Preferences {
        events,
        quiet_hours,
    })
}

/// Replace `member`'s preferences with `new`, in the caller's transaction. Answers them.
pub async fn replace(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
    new: &Preferences,
) -> AppResult<Preferences> {
    let parsed = parse(conn, new).await?;
    diesel::delete(
        notification_preferences::table
            .filter(notification_preferences::organisation_id.eq(org))
            .filter(notification_preferences::member_id.eq(member)),
    )
    .execute(conn)
    .await?;
    let rows: Vec<_> = parsed
        .off
        .iter()
        .map(|k| {
            (
                notification_preferences::organisation_id.eq(org),
                notification_preferences::member_id.eq(member),
                notification_preferences::kind.eq(k.as_str()),
                notification_preferences::enabled.eq(false),
            )
        })
        .collect();
    diesel::insert_into(notification_preferences::table)
        .values(rows)
        .execute(conn)
        .await?;
    diesel::delete(
        notification_settings::table
            .filter(notification_settings::organisation_id.eq(org))
            .filter(notification_settings::member_id.eq(member)),
    )
    .execute(conn)
    .await?;
    if let Some((start, end, zone)) = parsed.quiet {
        diesel::insert_into(notification_settings::table)
            .values((
                notification_settings::organisation_id.eq(org),
                notification_settings::member_id.eq(member),
                notification_settings::quiet_start.eq(Some(start)),
                notification_settings::quiet_end.eq(Some(end)),
                notification_settings::time_zone.eq(zone),
            ))
            .execute(conn)
            .await?;
    }
    load(conn, org, member).await
}
