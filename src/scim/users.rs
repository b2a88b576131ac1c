//! SCIM Users = members: what a User document says and how it lands on the member (email,
//! name, active), creation (or re-hire), replacement, PATCH, deletion (= deactivation), and
//! lists with `filter` and paging. Each write is one transaction, with its audit entry naming
//! the API key.

use crate::mail::Mail;
use chrono::{DateTime, SecondsFormat, Utc};
use diesel_async::AsyncPgConnection;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::filter::{self, Filter};
use super::projection::Projection;
use super::queries::{self, Narrow, UserRow};
use super::{LIST_SCHEMA, Locations, ScimClient, ScimError, ScimResult, USER_SCHEMA, patch};
use crate::audit::{self, Action, Actor};
use crate::auth::Role;
use crate::error::{AppError, AppResult};
use crate::members::{NewMember, lifecycle, queries as members};
use crate::validation;

/// What `filter` may name on Users (lower case).
pub const FILTERABLE: &[&str] = &[
    "id",
    "username",
    "externalid",
    "displayname",
    "emails",
    "emails.value",
    "emails.type",
    "emails.primary",
    "active",
    "meta.created",
    "meta.lastmodified",
    "name.givenname",
    "name.familyname",
    "name.formatted",
];

/// What a PATCH path may name.
const PATCHABLE: &[&str] = &[
    "username",
    "name",
    "name.givenname",
    "name.familyname",
    "name.formatted",
    "displayname",
    "emails",
    "emails.value",
    "emails.type",
    "emails.primary",
    "active",
    "externalid",
];

/// The attributes a User keeps; others are ignored (RFC 7644 §3.3: a service provider may).
/// `password` in particular is never stored.
const KEPT: &[&str] = &[
    "userName",
    "name",
    "displayName",
    "emails",
    "active",
    "externalId",
];

/// The longest userName and externalId.
const MAX_ID_LENGTH: usize = 256;

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The User a row shows: the stored document (or one made from the member, never
/// provisioned), with `active` as it stands, `id`, `schemas` and `meta`.
pub fn render(row: UserRow, at: &Locations) -> Value {
    let (
        id,
        email,
        display_name,
        deactivated_at,
        created,
        updated,
        document,
        scim_created,
        scim_updated,
    ) = row;
    let active = deactivated_at.is_none();
    let mut doc = match document {
        Some(Value::Object(d)) => d,
        _ => {
            let mut d = Map::new();
            d.insert("userName".into(), json!(email));
            d.insert("displayName".into(), json!(display_name));
            d.insert(
                "emails".into(),
                json!([{ "value": email, "primary": true }]),
            );
            d.insert("active".into(), json!(active));
            d
        }
    };
    if doc.contains_key("active") {
        doc.insert("active".into(), json!(active));
    }
    let last = scim_updated.map_or(updated, |s| s.max(updated));
    doc.insert("id".into(), json!(id));
    doc.insert("schemas".into(), json!([USER_SCHEMA]));
    doc.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": time(scim_created.unwrap_or(created)),
            "lastModified": time(last),
            "location": at.user(id),
        }),
    );
    Value::Object(doc)
}

/// A User document, checked: what is kept, and what it means for the member.
#[derive(Clone)]
struct Asserted {
    document: Value,
    user_name: String,
    external_id: Option<String>,
    email: String,
    display_name: String,
    active: Option<bool>,
}

fn invalid(detail: impl Into<String>) -> ScimError {
    ScimError::bad("invalidValue", detail)
}

/// `true`, `false`, or Entra's `"True"` and `"False"`.
fn boolean(v: &Value, field: &str) -> ScimResult<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(invalid(format!("{field} must be true or false"))),
    }
}

fn short_text(v: Option<&Value>, field: &str, required: bool) -> ScimResult<Option<String>> {
    match v {
        None | Some(Value::Null) if !required => Ok(None),
        Some(Value::String(s))
            if !s.trim().is_empty()
                && s.chars().count() <= MAX_ID_LENGTH
                && !s.chars().any(char::is_control) =>
        {
            Ok(Some(s.clone()))
        }
        _ => Err(invalid(format!(
            "{field} must be a text of 1 to {MAX_ID_LENGTH} characters"
        ))),
    }
}

fn check(body: Map<String, Value>) -> ScimResult<Asserted> {
    // One spelling per attribute; unknown attributes and the resource's own (id, meta,
    // schemas) are dropped.
    let mut doc = Map::new();
    for (key, value) in body {
        if let Some(name) = KEPT.iter().find(|k| k.eq_ignore_ascii_case(&key))
            && !value.is_null()
        {
            doc.insert(name.to_string(), value);
        }
    }
    let user_name = short_text(doc.get("userName"), "userName", true)?.unwrap_or_default();
    let external_id = short_text(doc.get("externalId"), "externalId", false)?;
    let active = match doc.get("active") {
        Some(v) => Some(boolean(v, "active")?),
        None => None,
    };
    if let Some(a) = active {
        doc.insert("active".into(), json!(a));
    }
    let mut no_emails = Vec::new();
    let emails = match doc.get_mut("emails") {
        Some(Value::Array(items)) => items,
        Some(_) => return Err(invalid("emails must be a list")),
        None => &mut no_emails,
    };
    let mut chosen: Option<String> = None;
    for item in emails.iter_mut() {
        let Value::Object(o) = item else {
            return Err(invalid("each of emails is an object"));
        };
        if let Some(p) = o.get("primary") {
            let primary = boolean(p, "emails.primary")?;
            o.insert("primary".into(), json!(primary));
            if primary {
                chosen = o.get("value").and_then(Value::as_str).map(str::to_string);
            }
        }
    }
    let chosen = chosen
        .or_else(|| {
            emails
                .iter()
                .find_map(|e| e.get("value").and_then(Value::as_str).map(str::to_string))
        })
        .or_else(|| user_name.contains('@').then(|| user_name.clone()))
        .ok_or_else(|| invalid("give an email: emails[].value, or a userName that is an email"))?;
    let mut errors = Vec::new();
    let email = validation::email("emails", &chosen, &mut errors);
    let name = doc.get("name");
    let given = name
        .and_then(|n| n.get("givenName"))
        .and_then(Value::as_str);
    let family = name
        .and_then(|n| n.get("familyName"))
        .and_then(Value::as_str);
    let joined = [given, family]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let display = [
        doc.get("displayName").and_then(Value::as_str),
        name.and_then(|n| n.get("formatted"))
            .and_then(Value::as_str),
        Some(joined.as_str()),
    ]
    .into_iter()
    .flatten()
    .map(str::trim)
    .find(|s| !s.is_empty())
    .unwrap_or(user_name.as_str())
    .chars()
    .take(120)
    .collect::<String>();
    let display_name = validation::text("displayName", &display, 120, &mut errors);
    if let Some(e) = errors.first() {
        return Err(invalid(format!("{}: {}", e.field, e.message)));
    }
    Ok(Asserted {
        document: Value::Object(doc),
        user_name,
        external_id,
        email,
        display_name,
        active,
    })
}

/// Bring the member in line with `a`: email, name, and `active` when it says and differs.
async fn project(
    conn: &mut AsyncPgConnection,
    mail: &Mail,
    org: Uuid,
    id: Uuid,
    a: &Asserted,
    actor: Actor,
    deactivated: bool,
) -> AppResult<()> {
    if let Some(old) = queries::set_profile(conn, org, id, &a.email, &a.display_name).await? {
        crate::mail::notices::email_changed(conn, mail, org, id, &old, &a.email).await?;
    }
    match a.active {
        Some(true) if deactivated => lifecycle::reactivate(conn, org, id, actor).await,
        Some(false) if !deactivated => lifecycle::deactivate(conn, org, id, actor).await,
        _ => Ok(()),
    }
}

async fn fetch(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
    at: &Locations,
) -> ScimResult<Value> {
    queries::load(conn, org, id)
        .await?
        .map(|row| render(row, at))
        .ok_or_else(|| ScimError::not_found("user"))
}

/// `GET /Users/{id}`.
pub async fn get(
    conn: &mut AsyncPgConnection,
    client: &ScimClient,
    id: Uuid,
    at: &Locations,
) -> ScimResult<Value> {
    fetch(conn, client.organisation_id, id, at).await
}

/// `POST /Users`: a new member (an employee, without a password: an invite or SSO follows),
/// or the member who has the email already, when no identity provider holds them yet (an
/// existing employee, or a re-hire after a DELETE).
pub async fn create(
    conn: &mut AsyncPgConnection,
    mail: &Mail,
    client: &ScimClient,
    body: Map<String, Value>,
    at: &Locations,
) -> ScimResult<(Uuid, Value)> {
    let mut a = check(body)?;
    // A new or returning person is active unless the provider says otherwise.
    a.active = Some(a.active.unwrap_or(true));
    let (org, actor) = (client.organisation_id, client.actor());
    let id = crate::db::transaction(conn, move |conn| {
        let a = a.clone();
        let mail = mail.clone();
        Box::pin(async move {
            lifecycle::lock_active_admins(conn, org).await?;
            let (id, deactivated) = match queries::by_email(conn, org, &a.email).await? {
                Some((_, true)) => {
                    return Err(super::taken(format!(
                        "a user with the email {} is provisioned already",
                        a.email
                    )));
                }
                Some((id, false)) => {
                    let state = queries::lock_member(conn, org, id).await?;
                    (id, state.flatten().is_some())
                }
                None => {
                    let new = NewMember {
                        email: a.email.clone(),
                        display_name: a.display_name.clone(),
                        role: Role::Employee,
                        team_id: None,
                        password_hash: None,
                        birth_date: None,
                        started_on: None,
                        employee_number: None,
                    };
                    let id = members::create(conn, org, new, None)
                        .await
                        .map_err(|e| match e {
                            AppError::Conflict { detail, .. } => super::taken(detail),
                            other => other,
                        })?;
                    (id, false)
                }
            };
            let names = (a.user_name.as_str(), a.external_id.as_deref());
            queries::store(conn, org, id, names, &a.document, None).await?;
            project(conn, &mail, org, id, &a, actor, deactivated).await?;
            audit::record(
                conn,
                org,
                actor,
                Action::ScimUserCreated,
                Some(("member", id)),
                json!({}),
            )
            .await?;
            Ok(id)
        })
    })
    .await?;
    Ok((id, fetch(conn, org, id, at).await?))
}

/// The write shared by PUT and PATCH: lock, take the document `make` builds from the current
/// one, land it, audit.
async fn rewrite(
    conn: &mut AsyncPgConnection,
    mail: &Mail,
    client: &ScimClient,
    id: Uuid,
    action: Action,
    make: impl Fn(Value) -> ScimResult<Map<String, Value>> + Send + Sync,
    at: &Locations,
) -> ScimResult<Value> {
    let (org, actor) = (client.organisation_id, client.actor());
    // A ScimError cannot cross db::transaction (an AppResult): it waits here.
    let refused = std::sync::Mutex::new(None::<ScimError>);
    let result = diesel_async::AsyncConnection::transaction::<_, AppError, _>(conn, async |conn| {
        lifecycle::lock_active_admins(conn, org).await?;
        let Some(state) = queries::lock(conn, org, id).await? else {
            return Err(AppError::not_found("user"));
        };
        let current = match queries::load(conn, org, id).await? {
            Some(row) => render(row, at),
            None => return Err(AppError::not_found("user")),
        };
        let a = match make(current).and_then(check) {
            Ok(a) => a,
            Err(e) => {
                let detail = e.detail.clone();
                if let Ok(mut slot) = refused.lock() {
                    *slot = Some(e);
                }
                return Err(AppError::BadRequest(detail));
            }
        };
        let names = (a.user_name.as_str(), a.external_id.as_deref());
        queries::store(conn, org, id, names, &a.document, None).await?;
        project(conn, mail, org, id, &a, actor, state.is_some()).await?;
        audit::record(conn, org, actor, action, Some(("member", id)), json!({})).await
    })
    .await;
    if let Err(e) = result {
        let held = refused.lock().ok().and_then(|mut s| s.take());
        return Err(held.unwrap_or_else(|| e.into()));
    }
    fetch(conn, org, id, at).await
}

/// `PUT /Users/{id}`: the document replaces the one kept.
pub async fn replace(
    conn: &mut AsyncPgConnection,
    mail: &Mail,
    client: &ScimClient,
    id: Uuid,
    body: Map<String, Value>,
    at: &Locations,
) -> ScimResult<Value> {
    check(body.clone())?;
    let make = move |_| Ok(body.clone());
    rewrite(conn, mail, client, id, Action::ScimUserReplaced, make, at).await
}

/// `PATCH /Users/{id}`: the operations, applied to the User as it stands.
pub async fn patch(
    conn: &mut AsyncPgConnection,
    mail: &Mail,
    client: &ScimClient,
    id: Uuid,
    operations: Vec<Value>,
    at: &Locations,
) -> ScimResult<Value> {
    let make = move |current: Value| {
        let Value::Object(mut doc) = current else {
            return Err(ScimError::from(AppError::internal(
                "a User is not an object",
            )));
        };
        for own in ["id", "schemas", "meta"] {
            doc.remove(own);
        }
        patch::apply(&mut doc, &operations, PATCHABLE, &["username", "emails"])?;
        Ok(doc)
    };
    rewrite(conn, mail, client, id, Action::ScimUserPatched, make, at).await
}

/// `DELETE /Users/{id}`: the member is deactivated (sessions end, invites expire, history
/// stays) and leaves their team; the SCIM identity ends, so the User answers 404 from now on.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    client: &ScimClient,
    id: Uuid,
    at: &Locations,
) -> ScimResult<()> {
    let (org, actor) = (client.organisation_id, client.actor());
    let at = at.clone();
    crate::db::transaction(conn, move |conn| {
        let at = at.clone();
        Box::pin(async move {
            lifecycle::lock_active_admins(conn, org).await?;
            let Some(state) = queries::lock(conn, org, id).await? else {
                return Err(AppError::not_found("user"));
            };
            let Some(row) = queries::load(conn, org, id).await? else {
                return Err(AppError::not_found("user"));
            };
            let Value::Object(mut doc) = render(row, &at) else {
                return Err(AppError::internal("a User is not an object"));
            };
            for own in ["id", "schemas", "meta"] {
                doc.remove(own);
            }
            if state.is_none() {
                lifecycle::deactivate(conn, org, id, actor).await?;
            }
            queries::leave_team(conn, org, id).await?;
            let user_name = doc
                .get("userName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let external_id = doc
                .get("externalId")
                .and_then(Value::as_str)
                .map(str::to_string);
            let names = (user_name.as_str(), external_id.as_deref());
            queries::store(conn, org, id, names, &Value::Object(doc), Some(Utc::now())).await?;
            audit::record(
                conn,
                org,
                actor,
                Action::ScimUserDeleted,
                Some(("member", id)),
                json!({}),
            )
            .await
        })
    })
    .await?;
    Ok(())
}

/// A list's parameters, checked.
pub struct ListQuery {
    pub filter: Option<Filter>,
    /// 1-based.
    pub start_index: i64,
    pub count: i64,
    pub projection: Projection,
}

impl ListQuery {
    /// `allowed`: what the resource type may be filtered on.
    pub fn parse(
        allowed: &[&str],
        filter: Option<&str>,
        start_index: Option<&str>,
        count: Option<&str>,
        projection: Projection,
    ) -> ScimResult<ListQuery> {
        let number = |raw: Option<&str>, field: &str, default: i64| -> ScimResult<i64> {
            match raw.map(str::trim) {
                None | Some("") => Ok(default),
                Some(r) => r
                    .parse::<i64>()
                    .map_err(|_| invalid(format!("{field} must be a whole number"))),
            }
        };
        Ok(ListQuery {
            filter: filter
                .filter(|f| !f.trim().is_empty())
                .map(|f| filter::parse(f, allowed))
                .transpose()?,
            // RFC 7644 §3.4.2.4: below 1 counts as 1; a negative count as 0.
            start_index: number(start_index, "startIndex", 1)?.max(1),
            count: number(count, "count", super::DEFAULT_COUNT)?.clamp(0, super::MAX_COUNT),
            projection,
        })
    }
}

/// How many rows a filtered list reads at a time.
const SCAN_CHUNK: i64 = 500;

/// `GET /Users` and `POST /Users/.search`: a ListResponse. Without a filter the database
/// pages; with one, the users (narrowed by the database when the filter pins `userName` or
/// `externalId`) are read in chunks and the filter is evaluated on each User.
pub async fn list(
    conn: &mut AsyncPgConnection,
    client: &ScimClient,
    q: ListQuery,
    at: &Locations,
) -> ScimResult<Value> {
    let org = client.organisation_id;
    let offset = q.start_index - 1;
    let (total, items) = match &q.filter {
        None => {
            let total = queries::count(conn, org).await?;
            let rows = queries::page(conn, org, None, None, offset, q.count).await?;
            (
                total,
                rows.into_iter().map(|r| render(r, at)).collect::<Vec<_>>(),
            )
        }
        Some(f) => {
            let narrow = f
                .equality_on("username")
                .map(Narrow::UserName)
                .or_else(|| f.equality_on("externalid").map(Narrow::ExternalId));
            let (mut total, mut items, mut after) = (0i64, Vec::new(), None);
            loop {
                let rows = queries::page(conn, org, narrow.as_ref(), after, 0, SCAN_CHUNK).await?;
                let done = (rows.len() as i64) < SCAN_CHUNK;
                after = rows.last().map(|r| (r.4, r.0));
                for row in rows {
                    let user = render(row, at);
                    if f.matches(&user) {
                        if total >= offset && (items.len() as i64) < q.count {
                            items.push(user);
                        }
                        total += 1;
                    }
                }
                if done {
                    break;
                }
            }
            (total, items)
        }
    };
    let resources: Vec<Value> = items.into_iter().map(|u| q.projection.apply(u)).collect();
    Ok(json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": q.start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    }))
}
