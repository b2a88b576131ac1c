//! Company values endpoints: every member lists them (to choose from); admins add and change
//! them. Values are never deleted (recognitions carry them): an admin deactivates one.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rocket::State;
use rocket::form::FromForm;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{get, patch, post};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{CompanyValue, MAX_VALUES, is_hashtag};
use crate::audit::{self, Action, Actor};
use crate::auth::{Admin, Caller, Role};
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldError};
use crate::http::{JsonBody, bool_param, check, path_id};
use crate::openapi::responses::{Forbidden, Invalid, NotFound, Unauthorized};
use crate::schema::{company_values, organisations};
use crate::validation;

type Problem = crate::error::Problem;

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewValue {
    /// 1-80 characters.
    pub name: String,
    /// 1-50 letters, digits or '_', with or without a leading '#'; unique in the organisation
    /// (ignoring case).
    pub hashtag: String,
    /// At most 1000 characters.
    #[serde(default)]
    pub description: String,
    /// Lists are ordered by this (0-1000), then by name.
    #[serde(default)]
    pub position: i32,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeValue {
    pub name: Option<String>,
    pub hashtag: Option<String>,
    pub description: Option<String>,
    pub position: Option<i32>,
    /// Inactive values can no longer be given; recognitions keep them.
    pub active: Option<bool>,
}

#[derive(Debug, FromForm, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ValueFilter {
    /// Include inactive values (admins only; default false).
    #[param(value_type = Option<bool>)]
    pub include_inactive: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ValueList {
    /// In the organisation's order (position, then name); at most 50.
    pub items: Vec<CompanyValue>,
}

fn hashtag(raw: &str, errors: &mut Vec<FieldError>) -> String {
    let tag = raw.trim().trim_start_matches('#').to_string();
    if !is_hashtag(&tag) {
        errors.push(FieldError::new(
            "hashtag",
            "must be 1-50 letters, digits or '_' (with or without a leading '#')",
        ));
    }
    tag
}

fn position(raw: i32, errors: &mut Vec<FieldError>) -> i32 {
    if !(0..=1000).contains(&raw) {
        errors.push(FieldError::new("position", "must be between 0 and 1000"));
    }
    raw
}

fn description(raw: &str, errors: &mut Vec<FieldError>) -> String {
    validation::optional_text("description", Some(raw), 1000, errors).unwrap_or_default()
}

fn hashtag_taken(e: diesel::result::Error, tag: &str) -> AppError {
    match AppError::from(e) {
        AppError::Conflict { .. } => AppError::Conflict {
            detail: format!("another value already has the hashtag #{tag}"),
            extra: Some(serde_json::json!({ "hashtag": tag })),
        },
        other => other,
    }
}

/// The organisation's values, in order (any member; inactive ones for admins who ask).
#[utoipa::path(
    tag = "values",
    security(("bearer" = [])),
    params(ValueFilter),
    responses((status = 200, body = ValueList), Unauthorized, Invalid)
)]
#[get("/api/v1/values?<filter..>")]
pub async fn list(
    db: &State<Db>,
    caller: Caller,
    filter: ValueFilter,
) -> AppResult<Json<ValueList>> {
    let mut errors = Vec::new();
    let raw = filter.include_inactive.as_deref();
    let inactive = bool_param("include_inactive", raw, false, &mut errors);
    check(errors)?;
    let mut query = company_values::table
        .filter(company_values::organisation_id.eq(caller.organisation_id))
        .order((company_values::position, company_values::name))
        .select(CompanyValue::as_select())
        .into_boxed();
    if !(inactive && caller.is(Role::Admin)) {
        query = query.filter(company_values::active.eq(true));
    }
    let mut conn = db.conn().await?;
    Ok(Json(ValueList {
        items: query.load(&mut conn).await?,
    }))
}

/// Add a value (admins). An organisation keeps at most 50.
#[utoipa::path(
    tag = "values",
    security(("bearer" = [])),
    request_body = NewValue,
    responses(
        (status = 201, body = CompanyValue),
        Unauthorized,
        Forbidden,
        (status = 409, description = "The hashtag is taken, or the organisation has 50 values", body = Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[post("/api/v1/values", data = "<body>")]
pub async fn create(
    db: &State<Db>,
    admin: Admin,
    body: JsonBody<NewValue>,
) -> AppResult<(Status, Json<CompanyValue>)> {
    let mut conn = db.conn().await?;
    let value = add(&mut conn, admin.organisation_id, admin.member_id, &body.0).await?;
    Ok((Status::Created, Json(value)))
}

/// Add a value for admin `by` (the API and the demo), audited.
pub async fn add(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    by: Uuid,
    new: &NewValue,
) -> AppResult<CompanyValue> {
    let mut e = Vec::new();
    let name = validation::text("name", &new.name, 80, &mut e);
    let tag = hashtag(&new.hashtag, &mut e);
    let description = description(&new.description, &mut e);
    let position = position(new.position, &mut e);
    check(e)?;
    crate::db::transaction(conn, |conn| {
        let (name, tag, description) = (name.clone(), tag.clone(), description.clone());
        Box::pin(async move {
            // The organisation's row lock orders concurrent adds, so the count below holds (no
            // key update: it does not block the foreign-key checks of other writes).
            organisations::table
                .find(org)
                .select(organisations::id)
                .for_no_key_update()
                .first::<Uuid>(conn)
                .await?;
            let n: i64 = company_values::table
                .filter(company_values::organisation_id.eq(org))
                .count()
                .get_result(conn)
                .await?;
            if n >= MAX_VALUES {
                return Err(AppError::conflict(format!(
                    "an organisation keeps at most {MAX_VALUES} values; deactivate or rename one"
                )));
            }
            let value = diesel::insert_into(company_values::table)
                .values((
                    company_values::organisation_id.eq(org),
                    company_values::name.eq(&name),
                    company_values::hashtag.eq(&tag),
                    company_values::description.eq(&description),
                    company_values::position.eq(position),
                ))
                .returning(CompanyValue::as_returning())
                .get_result(conn)
                .await
                .map_err(|e| hashtag_taken(e, &tag))?;
            let detail = serde_json::json!({ "name": name, "hashtag": tag });
            let subject = Some(("value", value.id));
            audit::record(
                conn,
                org,
                Actor::Member(by),
                Action::ValueCreated,
                subject,
                detail,
            )
            .await?;
            Ok(value)
        })
    })
    .await
}

/// Change a value (admins): its name, hashtag, description, order, or whether it is active.
#[utoipa::path(
    tag = "values",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Value id")),
    request_body = ChangeValue,
    responses(
        (status = 200, body = CompanyValue),
        Unauthorized,
        Forbidden,
        NotFound,
        (status = 409, description = "Another value has the hashtag", body = Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[patch("/api/v1/values/<id>", data = "<body>")]
pub async fn update(
    db: &State<Db>,
    admin: Admin,
    id: &str,
    body: JsonBody<ChangeValue>,
) -> AppResult<Json<CompanyValue>> {
    let id = path_id(id, "value")?;
    let mut conn = db.conn().await?;
    let org = admin.organisation_id;
    Ok(Json(
        change(&mut conn, org, admin.member_id, id, &body.0).await?,
    ))
}

async fn change(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    by: Uuid,
    id: Uuid,
    c: &ChangeValue,
) -> AppResult<CompanyValue> {
    let mut e = Vec::new();
    let name = c
        .name
        .as_deref()
        .map(|n| validation::text("name", n, 80, &mut e));
    let tag = c.hashtag.as_deref().map(|t| hashtag(t, &mut e));
    let description = c.description.as_deref().map(|d| description(d, &mut e));
    let position = c.position.map(|p| position(p, &mut e));
    check(e)?;
    let changes = (
        name.map(|v| company_values::name.eq(v)),
        tag.clone().map(|v| company_values::hashtag.eq(v)),
        description.map(|v| company_values::description.eq(v)),
        position.map(|v| company_values::position.eq(v)),
        c.active.map(|v| company_values::active.eq(v)),
        company_values::updated_at.eq(Utc::now()),
    );
    let detail = serde_json::to_value(c).unwrap_or_default();
    crate::db::transaction(conn, move |conn| {
        let (changes, tag, detail) = (changes.clone(), tag.clone(), detail.clone());
        Box::pin(async move {
            let value = diesel::update(
                company_values::table
                    .filter(company_values::organisation_id.eq(org))
                    .filter(company_values::id.eq(id)),
            )
            .set(changes)
            .returning(CompanyValue::as_returning())
            .get_result(conn)
            .await
            .optional()
            .map_err(|e| hashtag_taken(e, tag.as_deref().unwrap_or_default()))?
            .ok_or_else(|| AppError::not_found("value"))?;
            let subject = Some(("value", id));
            audit::record(
                conn,
                org,
                Actor::Member(by),
                Action::ValueChanged,
                subject,
                detail,
            )
            .await?;
            Ok(value)
        })
    })
    .await
}

crate::http::operations!(
    /// The organisation's company values.
    ValuesApi { list, create, update }
);
