//! What a win's life tells its people (`events::emit`, in the transaction of the change): a
//! win waiting for approval (its team's leads, else the admins), approved, declined,
//! implemented or measured (its author and contributors), a comment on it (the same).

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use super::{EventKind, InitiativeStatus, queries};
use crate::auth::Role;
use crate::error::AppResult;
use crate::events::{self, Happened, Kind, SubjectType};
use crate::schema::{initiative_comments, initiatives, members};

/// Who decides on a win of `team` that `involved` (author, contributors) may not decide: the
/// team's active leads; when it has none, the organisation's active admins (whom
/// `queries::another_decider_exists` also counts).
async fn approvers(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    team: Option<Uuid>,
    involved: &[Uuid],
) -> AppResult<Vec<Uuid>> {
    let active = members::table
        .filter(members::organisation_id.eq(org))
        .filter(members::deactivated_at.is_null())
        .filter(members::erased_at.is_null())
        .filter(members::id.ne_all(involved.to_vec()));
    if let Some(team) = team {
        let leads: Vec<Uuid> = active
            .clone()
            .filter(members::role.eq(Role::TeamLead.as_str()))
            .filter(members::team_id.eq(team))
            .select(members::id)
            .load(conn)
            .await?;
        if !leads.is_empty() {
            return Ok(leads);
        }
    }
    Ok(active
        .filter(members::role.eq(Role::Admin.as_str()))
        .select(members::id)
        .load(conn)
        .await?)
}

/// A win was logged: with the mandate it is approved at once (its contributors hear of it);
/// otherwise it waits for its approvers.
pub async fn submitted(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    author: (Uuid, Option<Uuid>),
    id: Uuid,
    mandate: bool,
    contributors: &[Uuid],
) -> AppResult<()> {
    let (author, team) = author;
    let event = if mandate {
        Happened::new(Kind::WinApproved, SubjectType::Initiative, id)
            .to(contributors.iter().copied())
            .data(json!({ "status": InitiativeStatus::Approved, "by_mandate": true }))
    } else {
        let mut involved = contributors.to_vec();
        involved.push(author);
        Happened::new(Kind::WinSubmitted, SubjectType::Initiative, id)
            .to(approvers(conn, org, team, &involved).await?)
            .data(json!({ "status": InitiativeStatus::Submitted }))
    };
    events::emit(conn, org, &[event.by(author)]).await
}

/// A win changed status (`kind`, to `to`): its author and contributors hear of it.
pub async fn changed(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    actor: Uuid,
    id: Uuid,
    (kind, to): (EventKind, InitiativeStatus),
    audience: &[Uuid],
) -> AppResult<()> {
    let kind = match kind {
        EventKind::Approved => Kind::WinApproved,
        EventKind::Declined => Kind::WinDeclined,
        EventKind::Implemented => Kind::WinImplemented,
        EventKind::Measured => Kind::WinMeasured,
        EventKind::Submitted | EventKind::Edited => return Ok(()),
    };
    let event = Happened::new(kind, SubjectType::Initiative, id)
        .by(actor)
        .to(audience.iter().copied())
        .data(json!({ "status": to }));
    events::emit(conn, org, &[event]).await
}

/// Comment `text` on win `id` as `author`, telling its author and contributors. Answers the
/// comment's id. In the caller's transaction.
pub async fn add_comment(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    author: Uuid,
    id: Uuid,
    text: &str,
) -> AppResult<Uuid> {
    queries::ensure_exists(conn, org, id).await?;
    let comment_id: Uuid = diesel::insert_into(initiative_comments::table)
        .values((
            initiative_comments::organisation_id.eq(org),
            initiative_comments::initiative_id.eq(id),
            initiative_comments::author_id.eq(author),
            initiative_comments::body.eq(text),
        ))
        .returning(initiative_comments::id)
        .get_result(conn)
        .await?;
    let win_author: Uuid = initiatives::table
        .filter(initiatives::organisation_id.eq(org))
        .filter(initiatives::id.eq(id))
        .select(initiatives::author_id)
        .first(conn)
        .await?;
    let mut audience = vec![win_author];
    audience.extend(queries::contributor_ids(conn, org, id).await?);
    let event = Happened::new(Kind::WinCommented, SubjectType::Initiative, id)
        .by(author)
        .to(audience)
        .data(json!({ "comment_id": comment_id }));
    events::emit(conn, org, &[event]).await?;
    Ok(comment_id)
}
