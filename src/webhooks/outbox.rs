//! The webhooks' sink of `events::emit`: one message per event per enabled endpoint of the
//! organisation that wants its type, in one statement in the transaction of the change. A
//! rollback takes the messages back with the change; a commit makes them the workers' (a
//! process that dies after it loses nothing: another process, or this one restarted, sends
//! them). With no endpoint registered the statement finds none and writes nothing.
//!
//! A chat tool's endpoint (Slack, Teams) posts where many may read it, so it hears only of
//! public recognitions; a `standard` endpoint (a program, not a channel) hears of all.

use diesel::sql_types::{Array, Jsonb, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::error::AppResult;
use crate::events::Happened;
use crate::sql::Prepared;

const ENQUEUE: &str = "\
INSERT INTO webhook_messages (organisation_id, endpoint_id, event_type, subject_type, subject_id,
                              actor_id, member_ids, data)
SELECT $1, e.id, i.kind, i.subject_type, i.subject_id, i.actor_id,
       ARRAY(SELECT jsonb_array_elements_text(i.members)::uuid), i.data
FROM unnest($2::text[], $3::text[], $4::uuid[], $5::uuid[], $6::jsonb[], $7::jsonb[])
    WITH ORDINALITY AS i(kind, subject_type, subject_id, actor_id, members, data, ord)
JOIN webhook_endpoints e ON e.organisation_id = $1 AND e.enabled AND i.kind = ANY (e.event_types)
WHERE e.format = 'standard' OR i.subject_type <> 'recognition'
   OR EXISTS (SELECT 1 FROM recognitions r
              WHERE r.organisation_id = $1 AND r.id = i.subject_id AND r.visibility = 'public')
ORDER BY i.ord, e.id";

/// Queue `events` of organisation `org` for its endpoints.
pub async fn enqueue(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    events: &[Happened],
) -> AppResult<()> {
    let mut kinds = Vec::with_capacity(events.len());
    let mut subject_types = Vec::with_capacity(events.len());
    let mut subjects = Vec::with_capacity(events.len());
    let mut actors = Vec::with_capacity(events.len());
    let mut members = Vec::with_capacity(events.len());
    let mut data = Vec::with_capacity(events.len());
    for e in events {
        kinds.push(e.kind.as_str());
        subject_types.push(e.subject.0.as_str());
        subjects.push(e.subject.1);
        actors.push(e.actor);
        members.push(serde_json::json!(e.listeners()));
        data.push(e.data.clone());
    }
    let queued = Prepared(
        diesel::sql_query(ENQUEUE)
            .bind::<SqlUuid, _>(org)
            .bind::<Array<Text>, _>(&kinds)
            .bind::<Array<Text>, _>(&subject_types)
            .bind::<Array<SqlUuid>, _>(&subjects)
            .bind::<Array<Nullable<SqlUuid>>, _>(&actors)
            .bind::<Array<Jsonb>, _>(&members)
            .bind::<Array<Jsonb>, _>(&data),
    )
    .execute(conn)
    .await?;
    if queued > 0 {
        super::delivery::nudge();
    }
    Ok(())
}
