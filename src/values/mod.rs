//! Company values and hashtags: what a recognition stands for.
//!
//! Admins keep the organisation's values (a name, a `#hashtag`, a description, an order); a
//! recognition carries the values its giver chose plus every active value whose hashtag its
//! message names, and its other `#hashtags` as free tags. Boards, the feed, exports and
//! analytics count and filter by value.
//!
//! - `routes`: the admins' list, create and change.
//! - here: the types, parsing hashtags, and resolving what a recognition carries.

pub mod routes;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{AppResult, FieldError};
use crate::schema::{company_values, recognition_hashtags, recognition_values};

pub use routes::routes;

/// An organisation keeps at most this many values (active or not): a value is a shared word
/// everyone should know, not a tag cloud.
pub const MAX_VALUES: i64 = 50;
/// A recognition carries at most this many values and this many free hashtags.
pub const MAX_PER_RECOGNITION: usize = 10;
/// The longest hashtag, without its '#'.
pub const MAX_HASHTAG: usize = 50;

#[derive(Debug, Clone, Queryable, Selectable, Serialize, ToSchema)]
#[diesel(table_name = company_values)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct CompanyValue {
    pub id: Uuid,
    pub name: String,
    /// Without its '#'.
    pub hashtag: String,
    pub description: String,
    /// Inactive values stay on the recognitions that carry them but can no longer be given.
    pub active: bool,
    /// Lists are ordered by this, then by name.
    pub position: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A value as shown on a recognition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ValueRef {
    pub id: Uuid,
    pub name: String,
    /// Without its '#'.
    pub hashtag: String,
}

/// Whether `tag` (without '#') is a hashtag: 1-50 letters, digits or '_'.
pub fn is_hashtag(tag: &str) -> bool {
    let n = tag.chars().count();
    (1..=MAX_HASHTAG).contains(&n) && tag.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// The `#hashtags` a message names, lower-cased, without '#', each once, in the order they first
/// appear. A '#' counts only at the start or after a character that is not part of a word (so
/// "C#" or "a#b" name none), and a tag is the letters, digits and '_' after it; one longer than
/// 50 is not a hashtag.
pub fn hashtags(message: &str) -> Vec<String> {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out: Vec<String> = Vec::new();
    let mut prev: Option<char> = None;
    let mut chars = message.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '#' && !prev.is_some_and(|p| word(p) || p == '#') {
            let rest = &message[i + 1..];
            let end = rest.find(|c: char| !word(c)).unwrap_or(rest.len());
            let tag = rest[..end].to_lowercase();
            if is_hashtag(&tag) && !out.contains(&tag) {
                out.push(tag);
            }
        }
        prev = Some(c);
        if c == '#' {
            // '##tag' names nothing: the second '#' follows a '#'.
            while chars.peek().is_some_and(|(_, n)| *n == '#') {
                chars.next();
                prev = Some('#');
            }
        }
    }
    out
}

/// What a recognition carries: its values (chosen or named by hashtag) and its free hashtags.
#[derive(Debug, Default, Clone)]
pub struct Carried {
    pub values: Vec<ValueRef>,
    pub hashtags: Vec<String>,
}

/// Resolve what a recognition with `chosen` values and `message` carries: every chosen id must
/// be an active value of the organisation (named in `errors` as `value_ids[i]` otherwise), and
/// a hashtag of the message that is an active value's hashtag adds that value; the other
/// hashtags stay free tags. Values are ordered as the organisation orders them.
pub async fn resolve(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    chosen: &[Uuid],
    message: &str,
    errors: &mut Vec<FieldError>,
) -> AppResult<Carried> {
    let tags = hashtags(message);
    if chosen.is_empty() && tags.is_empty() {
        return Ok(Carried::default());
    }
    let active: Vec<CompanyValue> = company_values::table
        .filter(company_values::organisation_id.eq(org))
        .filter(company_values::active.eq(true))
        .order((company_values::position, company_values::name))
        .select(CompanyValue::as_select())
        .load(conn)
        .await?;
    let mut ids = BTreeSet::new();
    for (i, id) in chosen.iter().enumerate() {
        if !active.iter().any(|v| v.id == *id) {
            errors.push(FieldError::new(
                format!("value_ids[{i}]"),
                "no active value with that id in your organisation",
            ));
        }
        ids.insert(*id);
    }
    let mut free = Vec::new();
    for tag in tags {
        match active.iter().find(|v| v.hashtag.to_lowercase() == tag) {
            Some(v) => {
                ids.insert(v.id);
            }
            None => free.push(tag),
        }
    }
    let values: Vec<ValueRef> = active
        .into_iter()
        .filter(|v| ids.contains(&v.id))
        .map(|v| ValueRef {
            id: v.id,
            name: v.name,
            hashtag: v.hashtag,
        })
        .collect();
    if values.len() > MAX_PER_RECOGNITION {
        errors.push(FieldError::new(
            "value_ids",
            format!("a recognition carries at most {MAX_PER_RECOGNITION} values"),
        ));
    }
    if free.len() > MAX_PER_RECOGNITION {
        errors.push(FieldError::new(
            "message",
            format!("at most {MAX_PER_RECOGNITION} hashtags besides the values'"),
        ));
    }
    Ok(Carried {
        values,
        hashtags: free,
    })
}

/// Write what a recognition carries, with its time (in the recognition's transaction).
pub async fn attach(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    recognition: Uuid,
    at: DateTime<Utc>,
    carried: &Carried,
) -> AppResult<()> {
    if !carried.values.is_empty() {
        let rows: Vec<_> = carried
            .values
            .iter()
            .map(|v| {
                (
                    recognition_values::organisation_id.eq(org),
                    recognition_values::recognition_id.eq(recognition),
                    recognition_values::value_id.eq(v.id),
                    recognition_values::created_at.eq(at),
                )
            })
            .collect();
        diesel::insert_into(recognition_values::table)
            .values(rows)
            .execute(conn)
            .await?;
    }
    if !carried.hashtags.is_empty() {
        let rows: Vec<_> = carried
            .hashtags
            .iter()
            .map(|t| {
                (
                    recognition_hashtags::organisation_id.eq(org),
                    recognition_hashtags::recognition_id.eq(recognition),
                    recognition_hashtags::tag.eq(t),
                    recognition_hashtags::created_at.eq(at),
                )
            })
            .collect();
        diesel::insert_into(recognition_hashtags::table)
            .values(rows)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// The values and hashtags of each of `ids`, for showing recognitions.
pub async fn carried_by(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    ids: &[Uuid],
) -> AppResult<std::collections::HashMap<Uuid, Carried>> {
    let mut out: std::collections::HashMap<Uuid, Carried> = std::collections::HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let values: Vec<(Uuid, Uuid, String, String)> = recognition_values::table
        .inner_join(
            company_values::table.on(company_values::id
                .eq(recognition_values::value_id)
                .and(company_values::organisation_id.eq(recognition_values::organisation_id))),
        )
        .filter(recognition_values::organisation_id.eq(org))
        .filter(recognition_values::recognition_id.eq_any(ids))
        .order((company_values::position, company_values::name))
        .select((
            recognition_values::recognition_id,
            company_values::id,
            company_values::name,
            company_values::hashtag,
        ))
        .load(conn)
        .await?;
    for (rid, id, name, hashtag) in values {
        out.entry(rid)
            .or_default()
            .values
            .push(ValueRef { id, name, hashtag });
    }
    let tags: Vec<(Uuid, String)> = recognition_hashtags::table
        .filter(recognition_hashtags::organisation_id.eq(org))
        .filter(recognition_hashtags::recognition_id.eq_any(ids))
        .order(recognition_hashtags::tag)
        .select((
            recognition_hashtags::recognition_id,
            recognition_hashtags::tag,
        ))
        .load(conn)
        .await?;
    for (rid, tag) in tags {
        out.entry(rid).or_default().hashtags.push(tag);
    }
    Ok(out)
}

/// Whether the organisation has a value with this id (active or not).
pub async fn exists(conn: &mut AsyncPgConnection, org: Uuid, id: Uuid) -> AppResult<bool> {
    let n: i64 = company_values::table
        .filter(company_values::organisation_id.eq(org))
        .filter(company_values::id.eq(id))
        .count()
        .get_result(conn)
        .await?;
    Ok(n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashtags_are_words_after_a_free_standing_hash() {
        assert_eq!(
            hashtags("Great save! #CustomerFirst and #ownership, again #customerfirst."),
            vec!["customerfirst", "ownership"]
        );
        assert_eq!(hashtags("(#team_spirit)"), vec!["team_spirit"]);
        assert_eq!(hashtags("#Kundeløfte!"), vec!["kundeløfte"]);
    }

    #[test]
    fn a_hash_inside_a_word_or_alone_names_nothing() {
        assert!(hashtags("C# and F#, a#b, # alone, ##double, #").is_empty());
        assert!(hashtags(&format!("#{}", "a".repeat(51))).is_empty());
        assert_eq!(hashtags(&format!("#{}", "a".repeat(50))).len(), 1);
    }

    #[test]
    fn hashtag_shape() {
        assert!(is_hashtag("Empathy_1"));
        assert!(!is_hashtag(""));
        assert!(!is_hashtag("two words"));
        assert!(!is_hashtag("#x"));
    }
}
