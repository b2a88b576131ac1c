//! Organisations (tenants) and their settings.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use rocket::State;
use rocket::serde::json::Json;
use rocket::{get, patch};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Admin, Caller};
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::http::{JsonBody, check};
use crate::openapi::responses::{Forbidden, Invalid, Unauthorized};
use crate::read_cache::{Shelf, Weigh};
use crate::schema::organisations;
use crate::validation;

#[derive(Debug, Clone, Queryable, Selectable, Serialize, ToSchema)]
#[diesel(table_name = organisations)]
pub struct Organisation {
    pub id: Uuid,
    /// What members type at login.
    pub slug: String,
    pub name: String,
    /// IANA time zone: periods such as "this week" are computed in it.
    pub time_zone: String,
    /// With mandate on, initiatives are approved on submission.
    pub mandate: bool,
    /// Pseudonymised exports suppress aggregates over fewer members than this (3-1000).
    pub min_group_size: i32,
    /// Every HR export is pseudonymised, whatever the request asks.
    pub pseudonymised_exports_only: bool,
    /// What ranks the members board unless a request says otherwise: `points`, or
    /// `distinct_givers` (how many different colleagues recognised a member: a ring of friends
    /// or one generous giver moves them one place per person, not per point).
    pub rank_members_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Staff (not admins or HR) may sign in on shared devices with their employee number and
    /// a numeric PIN they set (docs/sign-in.md).
    pub pin_sign_in: bool,
    /// The language of the organisation's emails: `en` (English) or `nb` (Norwegian Bokmål).
    pub language: String,
    /// Team leads get a weekly email on their team's week, on Monday mornings.
    pub weekly_lead_digest: bool,
}

#[derive(Debug, Deserialize, Serialize, ToSchema, Default)]
// Every field is optional (a PATCH changes what it names): documented as not required.
#[serde(deny_unknown_fields, default)]
pub struct UpdateOrganisation {
    // Serialised only into the audit entry, which names what was asked for and nothing else.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mandate: Option<bool>,
    /// 3-1000: a smaller group cannot hide anyone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_group_size: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pseudonymised_exports_only: Option<bool>,
    /// `points` or `distinct_givers`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rank_members_by: Option<String>,
    /// Let staff sign in with their employee number and a PIN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin_sign_in: Option<bool>,
    /// The language of emails: `en` or `nb`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Send team leads a weekly digest (when the server sends email).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weekly_lead_digest: Option<bool>,
}

/// Organisations' settings as the read cache holds them, as Rocket state. Clones share it.
#[derive(Clone)]
pub struct OrganisationCache(Shelf<Uuid, Arc<Organisation>>);

impl OrganisationCache {
    /// Entries live `ttl` at most; zero turns the cache off.
    pub fn new(ttl: std::time::Duration, clock: &crate::clock::Clock) -> Self {
        OrganisationCache(Shelf::new("organisations", ttl, 1 << 20, 400, clock))
    }
}

impl Weigh for Arc<Organisation> {
    fn bytes(&self) -> usize {
        256 + self.name.len() + self.slug.len() + self.time_zone.len()
    }
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> AppResult<Organisation> {
    organisations::table
        .find(id)
        .select(Organisation::as_select())
        .first(conn)
        .await
        .map_err(AppError::from)
}

/// The organisation's settings through the read cache: hot read paths (leaderboards) need the
/// time zone on every request, and it changes only through this API.
pub async fn cached(db: &Db, cache: &OrganisationCache, id: Uuid) -> AppResult<Arc<Organisation>> {
    let db = db.clone();
    cache
        .0
        .get_or_refresh(id, id, None, None, move || async move {
            let mut conn = db.conn().await?;
            find(&mut conn, id).await.map(Arc::new)
        })
        .await
}

/// Create an organisation (bootstrap, demo). Validates like the API does.
pub async fn create(
    conn: &mut AsyncPgConnection,
    slug: &str,
    name: &str,
    time_zone: &str,
) -> AppResult<Organisation> {
    let mut errors = Vec::new();
    let slug = validation::slug("organisation", slug, &mut errors);
    let name = validation::text("name", name, 200, &mut errors);
    let time_zone = validation::time_zone("time_zone", time_zone, &mut errors);
    check(errors)?;
    let mut errors = Vec::new();
    validation::time_zone_known_to_database(conn, "time_zone", &time_zone, &mut errors).await?;
    check(errors)?;
    diesel::insert_into(organisations::table)
        .values((
            organisations::slug.eq(slug),
            organisations::name.eq(name),
            organisations::time_zone.eq(time_zone),
        ))
        .returning(Organisation::as_returning())
        .get_result(conn)
        .await
        .map_err(|e| match AppError::from(e) {
            AppError::Conflict { .. } => {
                AppError::conflict("an organisation with this slug already exists")
            }
            other => other,
        })
}

/// The caller's organisation.
#[utoipa::path(
    tag = "organisation",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Organisation),
        Unauthorized,
    )
)]
#[get("/api/v1/organisation")]
pub async fn show(db: &State<Db>, caller: Caller) -> AppResult<Json<Organisation>> {
    let mut conn = db.conn().await?;
    Ok(Json(find(&mut conn, caller.organisation_id).await?))
}

/// Change the organisation's settings (admins). Absent fields are left as they are.
#[utoipa::path(
    tag = "organisation",
    security(("bearer" = [])),
    request_body = UpdateOrganisation,
    responses(
        (status = 200, body = Organisation),
        Unauthorized,
        Forbidden,
        (status = 409, description = "The slug is taken", body = crate::error::Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[patch("/api/v1/organisation", data = "<body>")]
pub async fn update(
    db: &State<Db>,
    admin: Admin,
    body: JsonBody<UpdateOrganisation>,
) -> AppResult<Json<Organisation>> {
    let change = SettingsChange::parse(body.0)?;
    let mut conn = db.conn().await?;
    let updated =
        change_settings(&mut conn, admin.organisation_id, admin.member_id, change).await?;
    tracing::info!(organisation_id = %admin.organisation_id, by = %admin.member_id, "organisation settings changed");
    Ok(Json(updated))
}

/// A checked change of settings: every present value valid; what was asked for, for the audit.
pub struct SettingsChange {
    name: Option<String>,
    slug: Option<String>,
    time_zone: Option<String>,
    req: UpdateOrganisation,
    changes: serde_json::Value,
}

impl SettingsChange {
    pub fn parse(req: UpdateOrganisation) -> AppResult<SettingsChange> {
        let mut errors = Vec::new();
        let name = req
            .name
            .as_deref()
            .map(|n| validation::text("name", n, 200, &mut errors));
        let slug = req
            .slug
            .as_deref()
            .map(|s| validation::slug("slug", s, &mut errors));
        let time_zone = req
            .time_zone
            .as_deref()
            .map(|t| validation::time_zone("time_zone", t, &mut errors));
        if let Some(n) = req.min_group_size
            && !(3..=1000).contains(&n)
        {
            errors.push(crate::error::FieldError::new(
                "min_group_size",
                "must be between 3 and 1000",
            ));
        }
        if let Some(r) = req.rank_members_by.as_deref()
            && !["points", "distinct_givers"].contains(&r)
        {
            errors.push(crate::error::FieldError::new(
                "rank_members_by",
                "must be points or distinct_givers",
            ));
        }
        if let Some(language) = req.language.as_deref()
            && let Err(e) = language.parse::<crate::mail::Language>()
        {
            errors.push(e);
        }
        check(errors)?;
        // The audit entry names what was asked for; privacy settings (min_group_size,
        // pseudonymised_exports_only) are what an auditor looks for.
        let changes = serde_json::to_value(&req).unwrap_or_default();
        Ok(SettingsChange {
            name,
            slug,
            time_zone,
            req,
            changes,
        })
    }
}

/// Applies a change in one transaction with its audit entry; a new time zone recomputes the
/// boards.
pub async fn change_settings(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    by: Uuid,
    change: SettingsChange,
) -> AppResult<Organisation> {
    let SettingsChange {
        name,
        slug,
        time_zone,
        req,
        changes,
    } = change;
    if let Some(zone) = &time_zone {
        let mut errors = Vec::new();
        validation::time_zone_known_to_database(conn, "time_zone", zone, &mut errors).await?;
        check(errors)?;
    }
    conn.transaction::<_, AppError, _>(async move |conn| {
        let before = find(conn, org).await?;
        let updated = diesel::update(organisations::table.find(org))
            .set((
                name.map(|v| organisations::name.eq(v)),
                slug.map(|v| organisations::slug.eq(v)),
                time_zone.map(|v| organisations::time_zone.eq(v)),
                req.mandate.map(|v| organisations::mandate.eq(v)),
                req.min_group_size
                    .map(|v| organisations::min_group_size.eq(v)),
                req.pseudonymised_exports_only
                    .map(|v| organisations::pseudonymised_exports_only.eq(v)),
                req.rank_members_by
                    .clone()
                    .map(|v| organisations::rank_members_by.eq(v)),
                req.pin_sign_in.map(|v| organisations::pin_sign_in.eq(v)),
                req.language.clone().map(|v| organisations::language.eq(v)),
                req.weekly_lead_digest
                    .map(|v| organisations::weekly_lead_digest.eq(v)),
                organisations::updated_at.eq(Utc::now()),
            ))
            .returning(Organisation::as_returning())
            .get_result(conn)
            .await
            .map_err(|e| match AppError::from(e) {
                AppError::Conflict { .. } => {
                    AppError::conflict("another organisation already uses this slug")
                }
                other => other,
            })?;
        // Periods are computed in the organisation's time zone: a new zone moves period
        // boundaries, so the boards are recomputed from the ledger.
        if before.time_zone != updated.time_zone {
            diesel::sql_query("SELECT rebuild_boards($1)")
                .bind::<diesel::sql_types::Uuid, _>(org)
                .execute(conn)
                .await?;
        }
        crate::audit::record(
            conn,
            org,
            crate::audit::Actor::Member(by),
            crate::audit::Action::OrganisationSettingsChanged,
            Some(("organisation", org)),
            serde_json::json!({
                "changes": changes,
                "before": {
                    "mandate": before.mandate,
                    "min_group_size": before.min_group_size,
                    "pseudonymised_exports_only": before.pseudonymised_exports_only,
                    "time_zone": before.time_zone,
                    "pin_sign_in": before.pin_sign_in,
                    "language": before.language,
                    "weekly_lead_digest": before.weekly_lead_digest,
                },
            }),
        )
        .await?;
        Ok(updated)
    })
    .await
}

crate::http::operations!(
    /// The caller's organisation.
    OrganisationsApi { show, update }
);
