//! API key rows and their view.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{ApiKey, Scope};
use crate::schema::api_keys;

pub type Row = (
    Uuid,
    String,
    String,
    Vec<Option<String>>,
    Uuid,
    Uuid,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

pub fn view(r: Row) -> ApiKey {
    let (
        id,
        name,
        prefix,
        scopes,
        created_by,
        owner_id,
        created_at,
        expires_at,
        last_used_at,
        revoked_at,
    ) = r;
    ApiKey {
        id,
        name,
        prefix,
        scopes: scopes
            .iter()
            .filter_map(|s| match s.as_deref().unwrap_or_default() {
                "exports" => Some(Scope::Exports),
                "kpis" => Some(Scope::Kpis),
                _ => None,
            })
            .collect(),
        created_by,
        owner_id,
        created_at,
        expires_at,
        last_used_at,
        revoked_at,
    }
}

macro_rules! key_columns {
    () => {
        (
            api_keys::id,
            api_keys::name,
            api_keys::prefix,
            api_keys::scopes,
            api_keys::created_by,
            api_keys::owner_id,
            api_keys::created_at,
            api_keys::expires_at,
            api_keys::last_used_at,
            api_keys::revoked_at,
        )
    };
}
pub(super) use key_columns;

pub async fn list(conn: &mut AsyncPgConnection, org: Uuid) -> QueryResult<Vec<Row>> {
    api_keys::table
        .filter(api_keys::organisation_id.eq(org))
        .order(api_keys::created_at.desc())
        .select(key_columns!())
        .load(conn)
        .await
}
