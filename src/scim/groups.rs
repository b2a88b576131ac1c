//! SCIM Groups = teams: `displayName` is the team's name, `members` who is in it (read from
//! `members.team_id`, so it is always the truth). A member is in one team at a time: adding
//! them to a Group moves them out of their last one. PUT sets exactly the listed members;
//! DELETE takes everyone out and archives the team.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{SecondsFormat, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::queries::leave_team;
use super::team_queries::{self as rows, GroupRow};
use super::users::ListQuery;
use super::{
    GROUP_SCHEMA, LIST_SCHEMA, Locations, ScimClient, ScimError, ScimResult, patch, taken,
};
use crate::audit::{self, Action};
use crate::error::{AppError, AppResult};
use crate::validation;

/// What `filter` may name on Groups.
pub const FILTERABLE: &[&str] = &[
    "id",
    "displayname",
    "externalid",
    "members",
    "members.value",
    "meta.created",
    "meta.lastmodified",
];

const PATCHABLE: &[&str] = &["displayname", "externalid", "members", "members.value"];

/// The most members one Group document may list.
const MAX_MEMBERS: usize = 1000;

/// The Group a row shows, with its `members`.
pub fn render(row: GroupRow, members: &[Uuid], at: &Locations) -> Value {
    let (id, name, created, updated, document, scim_created, scim_updated) = row;
    let mut doc = match document {
        Some(Value::Object(d)) => d,
        _ => Map::new(),
    };
    doc.insert("displayName".into(), json!(name));
    if !members.is_empty() {
        let list: Vec<Value> = members
            .iter()
            .map(|m| json!({ "value": m, "$ref": at.user(*m) }))
            .collect();
        doc.insert("members".into(), Value::Array(list));
    }
    doc.insert("id".into(), json!(id));
    doc.insert("schemas".into(), json!([GROUP_SCHEMA]));
    let time = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    doc.insert(
        "meta".into(),
        json!({
            "resourceType": "Group",
            "created": time(scim_created.unwrap_or(created)),
            "lastModified": time(scim_updated.map_or(updated, |s| s.max(updated))),
            "location": at.group(id),
        }),
    );
    Value::Object(doc)
}

async fn render_all(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    groups: Vec<GroupRow>,
    at: &Locations,
) -> AppResult<Vec<Value>> {
    let ids: Vec<Uuid> = groups.iter().map(|g| g.0).collect();
    let mut by_team: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
    for (member, team) in rows::members_of(conn, org, &ids).await? {
        by_team.entry(team).or_default().push(member);
    }
    Ok(groups
        .into_iter()
        .map(|g| {
            let members = by_team.get(&g.0).cloned().unwrap_or_default();
            render(g, &members, at)
        })
        .collect())
}

async fn fetch(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
    at: &Locations,
) -> ScimResult<Value> {
    let row = rows::load(conn, org, id)
        .await?
        .ok_or_else(|| ScimError::not_found("group"))?;
    render_all(conn, org, vec![row], at)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ScimError::not_found("group"))
}

pub async fn get(
    conn: &mut AsyncPgConnection,
    client: &ScimClient,
    id: Uuid,
    at: &Locations,
) -> ScimResult<Value> {
    fetch(conn, client.organisation_id, id, at).await
}

/// A Group document, checked: what is kept, the name, and the members' ids.
struct Asserted {
    document: Value,
    name: String,
    external_id: Option<String>,
    members: Vec<Uuid>,
}

fn invalid(detail: impl Into<String>) -> ScimError {
    ScimError::bad("invalidValue", detail)
}

fn check(body: Map<String, Value>) -> ScimResult<Asserted> {
    let get = |name: &str| {
        body.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_null())
    };
    let mut errors = Vec::new();
    let raw = match get("displayName") {
        Some(Value::String(s)) => s,
        _ => return Err(invalid("displayName is required")),
    };
    let name = validation::text("displayName", &raw, 120, &mut errors);
    if let Some(e) = errors.first() {
        return Err(invalid(format!("{}: {}", e.field, e.message)));
    }
    let external_id = match get("externalId") {
        None => None,
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= 256 => Some(s),
        Some(_) => return Err(invalid("externalId must be a text of 1 to 256 characters")),
    };
    let mut members = Vec::new();
    match get("members") {
        None => {}
        Some(Value::Array(items)) if items.len() <= MAX_MEMBERS => {
            for item in items {
                let id = super::filter::member(&item, "value")
                    .and_then(Value::as_str)
                    .and_then(|v| Uuid::parse_str(v).ok())
                    .ok_or_else(|| invalid("each of members has the value of a User's id"))?;
                if !members.contains(&id) {
                    members.push(id);
                }
            }
        }
        Some(_) => {
            return Err(invalid(format!(
                "members is a list of at most {MAX_MEMBERS}"
            )));
        }
    }
    // Kept: the name as sent and the external id; members are read from the teams.
    let mut document = Map::new();
    document.insert("displayName".into(), json!(raw));
    if let Some(e) = &external_id {
        document.insert("externalId".into(), json!(e));
    }
    Ok(Asserted {
        document: Value::Object(document),
        name,
        external_id,
        members,
    })
}

/// Make the team's members exactly `wanted`: the others leave, the new ones join (and leave
/// their last team).
async fn set_members(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    team: Uuid,
    wanted: &[Uuid],
) -> AppResult<()> {
    let known = rows::existing_users(conn, org, wanted).await?;
    if let Some(unknown) = wanted.iter().find(|w| !known.contains(w)) {
        return Err(AppError::invalid(
            "members",
            format!("no User {unknown} in your organisation"),
        ));
    }
    let current: BTreeSet<Uuid> = rows::members_of(conn, org, &[team])
        .await?
        .into_iter()
        .map(|(m, _)| m)
        .collect();
    for m in current.iter().filter(|m| !wanted.contains(m)) {
        leave_team(conn, org, *m).await?;
    }
    for m in wanted.iter().filter(|m| !current.contains(m)) {
        rows::join(conn, org, *m, team).await?;
    }
    Ok(())
}

/// `POST /Groups`: a new team with its members.
pub async fn create(
    conn: &mut AsyncPgConnection,
    client: &ScimClient,
    body: Map<String, Value>,
    at: &Locations,
) -> ScimResult<(Uuid, Value)> {
    let a = check(body)?;
    let (org, actor) = (client.organisation_id, client.actor());
    let id = conn
        .transaction::<_, AppError, _>(async |conn| {
            let team = crate::teams::create(conn, org, &a.name)
                .await
                .map_err(|e| match e {
                    AppError::Conflict { detail, .. } => taken(detail),
                    other => other,
                })?;
            rows::store(
                conn,
                org,
                team.id,
                a.external_id.as_deref(),
                &a.document,
                None,
            )
            .await?;
            set_members(conn, org, team.id, &a.members).await?;
            audit::record(
                conn,
                org,
                actor,
                Action::ScimGroupCreated,
                Some(("team", team.id)),
                json!({}),
            )
            .await?;
            Ok(team.id)
        })
        .await?;
    Ok((id, fetch(conn, org, id, at).await?))
}

/// The write shared by PUT and PATCH.
async fn rewrite(
    conn: &mut AsyncPgConnection,
    client: &ScimClient,
    id: Uuid,
    action: Action,
    make: impl Fn(Value) -> ScimResult<Map<String, Value>> + Send + Sync,
    at: &Locations,
) -> ScimResult<Value> {
    let org = client.organisation_id;
    let refused = std::sync::Mutex::new(None::<ScimError>);
    let result = conn
        .transaction::<_, AppError, _>(async |conn| {
            if !rows::lock(conn, org, id).await? {
                return Err(AppError::not_found("group"));
            }
            let current = fetch(conn, org, id, at)
                .await
                .map_err(|_| AppError::not_found("group"))?;
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
            rows::rename(conn, org, id, &a.name).await?;
            rows::store(conn, org, id, a.external_id.as_deref(), &a.document, None).await?;
            set_members(conn, org, id, &a.members).await?;
            audit::record(
                conn,
                org,
                client.actor(),
                action,
                Some(("team", id)),
                json!({}),
            )
            .await
        })
        .await;
    if let Err(e) = result {
        let held = refused.lock().ok().and_then(|mut s| s.take());
        return Err(held.unwrap_or_else(|| e.into()));
    }
    fetch(conn, org, id, at).await
}

/// `PUT /Groups/{id}`: the name, the external id, and exactly the listed members.
pub async fn replace(
    conn: &mut AsyncPgConnection,
    client: &ScimClient,
    id: Uuid,
    body: Map<String, Value>,
    at: &Locations,
) -> ScimResult<Value> {
    check(body.clone())?;
    rewrite(
        conn,
        client,
        id,
        Action::ScimGroupReplaced,
        move |_| Ok(body.clone()),
        at,
    )
    .await
}

/// `PATCH /Groups/{id}`: e.g. `add` or `remove` on `members`, `members[value eq "..."]`.
pub async fn patch(
    conn: &mut AsyncPgConnection,
    client: &ScimClient,
    id: Uuid,
    operations: Vec<Value>,
    at: &Locations,
) -> ScimResult<Value> {
    let make = move |current: Value| {
        let Value::Object(mut doc) = current else {
            return Err(ScimError::from(AppError::internal(
                "a Group is not an object",
            )));
        };
        for own in ["id", "schemas", "meta"] {
            doc.remove(own);
        }
        patch::apply(&mut doc, &operations, PATCHABLE, &["displayname"])?;
        Ok(doc)
    };
    rewrite(conn, client, id, Action::ScimGroupPatched, make, at).await
}

/// `DELETE /Groups/{id}`: every member leaves, the team is archived, the Group is gone.
pub async fn delete(conn: &mut AsyncPgConnection, client: &ScimClient, id: Uuid) -> ScimResult<()> {
    let (org, actor) = (client.organisation_id, client.actor());
    conn.transaction::<_, AppError, _>(async |conn| {
        if !rows::lock(conn, org, id).await? {
            return Err(AppError::not_found("group"));
        }
        set_members(conn, org, id, &[]).await?;
        rows::archive(conn, org, id).await?;
        rows::store(conn, org, id, None, &json!({}), Some(Utc::now())).await?;
        audit::record(
            conn,
            org,
            actor,
            Action::ScimGroupDeleted,
            Some(("team", id)),
            json!({}),
        )
        .await
    })
    .await?;
    Ok(())
}

/// `GET /Groups` and `POST /Groups/.search`.
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
            let total = rows::count(conn, org).await?;
            let page = rows::page(conn, org, None, None, offset, q.count).await?;
            (total, render_all(conn, org, page, at).await?)
        }
        Some(f) => {
            let name = f.equality_on("displayname");
            let (mut total, mut items, mut after) = (0i64, Vec::new(), None);
            loop {
                let page = rows::page(conn, org, name.as_deref(), after, 0, 200).await?;
                let done = page.len() < 200;
                after = page.last().map(|g| (g.2, g.0));
                for group in render_all(conn, org, page, at).await? {
                    if f.matches(&group) {
                        if total >= offset && (items.len() as i64) < q.count {
                            items.push(group);
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
    let resources: Vec<Value> = items.into_iter().map(|g| q.projection.apply(g)).collect();
    Ok(json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": q.start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    }))
}
