//! Privacy: a member's copy of everything Frontline holds about them, and erasure.

use std::collections::HashSet;

use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::{Jsonb, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rocket::State;
use rocket::http::{ContentType, Header};
use rocket::serde::json::Json;
use rocket::{get, post};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::audit::{self, Action, Actor};
use crate::auth::{Admin, Caller, sessions};
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::http::path_id;
use crate::openapi::responses::{Forbidden, NotFound, Unauthorized};

use crate::schema::{
    idempotency_keys, initiative_comments, member_invites, members, moderation_reports,
    recognition_comments, recognitions,
};

type Problem = crate::error::Problem;

#[derive(diesel::QueryableByName)]
struct Doc {
    #[diesel(sql_type = Jsonb)]
    doc: serde_json::Value,
}

/// Everything held about a member, as one JSON document. One SQL statement, so the parts are
/// consistent with each other.
///
/// It is the member's data, not their colleagues': what they did to others (ledger entries
/// they made, team moves, budgets they set, audit entries where they acted) comes without the
/// other member's id and without the audit details, which may quote others; who moved them or
/// adjusted their points is left out the same way.
///
/// `assertions_url` is where Open Badges assertions are published (their id follows), if they
/// are: each of the member's assertions is listed with its public URL.
pub async fn export_member(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
    assertions_url: Option<&str>,
) -> AppResult<serde_json::Value> {
    let doc: Doc = diesel::sql_query(
        "SELECT jsonb_build_object( \
           'generated_at', now(), \
           'profile', (SELECT (to_jsonb(m) - 'password_hash' - 'pin_hash') || jsonb_build_object('birth_date', \
                CASE WHEN m.birth_month IS NOT NULL THEN '--' || lpad(m.birth_month::text, 2, '0') || '-' || lpad(m.birth_day::text, 2, '0') END) \
                FROM members m WHERE m.organisation_id = $1 AND m.id = $2), \
           'celebrations', COALESCE((SELECT jsonb_agg(jsonb_build_object('kind', c.kind, 'year', c.year, 'recognition_id', c.recognition_id, 'created_at', c.created_at) ORDER BY c.created_at) \
                FROM celebrations c WHERE c.organisation_id = $1 AND c.member_id = $2), '[]'), \
           'organisation', (SELECT jsonb_build_object('id', o.id, 'slug', o.slug, 'name', o.name) FROM organisations o WHERE o.id = $1), \
           'team_history', COALESCE((SELECT jsonb_agg(to_jsonb(t) - 'moved_by' ORDER BY t.started_at) FROM team_memberships t WHERE t.organisation_id = $1 AND t.member_id = $2), '[]'), \
           'sessions', COALESCE((SELECT jsonb_agg(jsonb_build_object('id', s.id, 'created_at', s.created_at, 'last_used_at', s.last_used_at, 'expires_at', s.expires_at, 'revoked_at', s.revoked_at, 'revoked_reason', s.revoked_reason) ORDER BY s.created_at) FROM sessions s WHERE s.organisation_id = $1 AND s.member_id = $2), '[]'), \
           'initiatives', COALESCE((SELECT jsonb_agg(to_jsonb(i) ORDER BY i.created_at) FROM initiatives i WHERE i.organisation_id = $1 AND i.author_id = $2), '[]'), \
           'contributions', COALESCE((SELECT jsonb_agg(c.initiative_id) FROM initiative_contributors c WHERE c.organisation_id = $1 AND c.member_id = $2), '[]'), \
           'initiative_events', COALESCE((SELECT jsonb_agg(to_jsonb(e) ORDER BY e.created_at) FROM initiative_events e WHERE e.organisation_id = $1 AND e.actor_id = $2), '[]'), \
           'comments', COALESCE((SELECT jsonb_agg(to_jsonb(c) ORDER BY c.created_at) FROM initiative_comments c WHERE c.organisation_id = $1 AND c.author_id = $2), '[]'), \
           'recognitions_given', COALESCE((SELECT jsonb_agg(to_jsonb(r) ORDER BY r.created_at) FROM recognitions r WHERE r.organisation_id = $1 AND r.giver_id = $2), '[]'), \
           'recognitions_received', COALESCE((SELECT jsonb_agg(jsonb_build_object('recognition_id', r.id, 'giver_id', r.giver_id, 'message', r.message, 'points_each', r.points_each, 'dimension', r.dimension, 'created_at', r.created_at) ORDER BY r.created_at) \
                FROM recognition_recipients rr JOIN recognitions r ON r.id = rr.recognition_id WHERE rr.organisation_id = $1 AND rr.member_id = $2), '[]'), \
           'reactions', COALESCE((SELECT jsonb_agg(to_jsonb(x) ORDER BY x.created_at) FROM recognition_reactions x WHERE x.organisation_id = $1 AND x.member_id = $2), '[]'), \
           'recognition_comments', COALESCE((SELECT jsonb_agg(to_jsonb(c) - 'deleted_by' ORDER BY c.created_at) FROM recognition_comments c WHERE c.organisation_id = $1 AND c.author_id = $2), '[]'), \
           'boosts_given', COALESCE((SELECT jsonb_agg(to_jsonb(b) ORDER BY b.created_at) FROM recognition_boosts b WHERE b.organisation_id = $1 AND b.booster_id = $2), '[]'), \
           'reports_filed', COALESCE((SELECT jsonb_agg(jsonb_build_object('id', m.id, 'recognition_id', m.recognition_id, 'comment_id', m.comment_id, 'reason', m.reason, 'status', m.status, 'created_at', m.created_at, 'resolved_at', m.resolved_at) ORDER BY m.created_at) \
                FROM moderation_reports m WHERE m.organisation_id = $1 AND m.reporter_id = $2), '[]'), \
           'ledger', COALESCE((SELECT jsonb_agg(to_jsonb(l) - 'created_by' ORDER BY l.created_at) FROM ledger_entries l WHERE l.organisation_id = $1 AND l.member_id = $2), '[]'), \
           'balance', (SELECT COALESCE(sum(points), 0) FROM ledger_entries WHERE organisation_id = $1 AND member_id = $2), \
           'earned', (SELECT COALESCE(sum(points), 0) FROM ledger_entries WHERE organisation_id = $1 AND member_id = $2 AND reason <> 'redemption'), \
           'redemptions', COALESCE((SELECT jsonb_agg(jsonb_build_object('id', x.id, 'item_id', x.item_id, 'item_title', i.title, 'points', x.points, 'status', x.status, \
                'decline_reason', x.decline_reason, 'created_at', x.created_at, 'updated_at', x.updated_at) ORDER BY x.created_at) \
                FROM redemptions x JOIN reward_items i ON i.organisation_id = x.organisation_id AND i.id = x.item_id WHERE x.organisation_id = $1 AND x.member_id = $2), '[]'), \
           'giving_balances', COALESCE((SELECT jsonb_agg(to_jsonb(g) ORDER BY g.period_start) FROM giving_balances g WHERE g.organisation_id = $1 AND g.member_id = $2), '[]'), \
           'badges', COALESCE((SELECT jsonb_agg(jsonb_build_object('key', b.key, 'name', b.name, 'awarded_at', mb.awarded_at) ORDER BY mb.awarded_at) \
                FROM member_badges mb JOIN badges b ON b.id = mb.badge_id WHERE mb.organisation_id = $1 AND mb.member_id = $2), '[]'), \
           'badge_assertions', COALESCE((SELECT jsonb_agg(jsonb_build_object('id', a.id, 'badge_id', a.badge_id, 'badge_name', b.name, 'issued_on', a.issued_on, \
                'revoked_at', a.revoked_at, 'revocation_reason', a.revocation_reason, 'url', $3 || a.id::text) ORDER BY a.issued_on, a.id) \
                FROM badge_assertions a JOIN badges b ON b.organisation_id = a.organisation_id AND b.id = a.badge_id WHERE a.organisation_id = $1 AND a.member_id = $2), '[]'), \
           'audit_entries_about_me', COALESCE((SELECT jsonb_agg(jsonb_build_object('at', a.at, 'action', a.action, 'actor_member_id', a.actor_member_id) ORDER BY a.at) \
                FROM audit_log a WHERE a.organisation_id = $1 AND a.subject_id = $2), '[]'), \
           'audit_entries_by_me', COALESCE((SELECT jsonb_agg(jsonb_build_object('at', a.at, 'action', a.action, 'subject_type', a.subject_type, \
                'subject_id', CASE WHEN a.subject_type = 'member' AND a.subject_id <> $2 THEN NULL ELSE a.subject_id END, 'request_id', a.request_id) ORDER BY a.at) \
                FROM audit_log a WHERE a.organisation_id = $1 AND a.actor_member_id = $2), '[]'), \
           'ledger_entries_created', COALESCE((SELECT jsonb_agg(to_jsonb(l) - 'member_id' - 'team_id' ORDER BY l.created_at) FROM ledger_entries l WHERE l.organisation_id = $1 AND l.created_by = $2), '[]'), \
           'kpis_recorded', COALESCE((SELECT jsonb_agg(to_jsonb(k) ORDER BY k.recorded_at) FROM team_kpis k WHERE k.organisation_id = $1 AND k.recorded_by = $2), '[]'), \
           'challenges_created', COALESCE((SELECT jsonb_agg(to_jsonb(c) - 'cancelled_by' ORDER BY c.created_at) FROM challenges c WHERE c.organisation_id = $1 AND c.created_by = $2), '[]'), \
           'api_keys_created', COALESCE((SELECT jsonb_agg(jsonb_build_object('id', k.id, 'name', k.name, 'prefix', k.prefix, 'scopes', k.scopes, 'created_at', k.created_at, 'last_used_at', k.last_used_at, 'revoked_at', k.revoked_at) ORDER BY k.created_at) \
                FROM api_keys k WHERE k.organisation_id = $1 AND k.created_by = $2), '[]'), \
           'team_moves_made', COALESCE((SELECT jsonb_agg(to_jsonb(t) - 'member_id' ORDER BY t.started_at) FROM team_memberships t WHERE t.organisation_id = $1 AND t.moved_by = $2), '[]'), \
           'lead_budgets_set', COALESCE((SELECT jsonb_agg(to_jsonb(b) - 'member_id' ORDER BY b.updated_at) FROM lead_budgets b WHERE b.organisation_id = $1 AND b.updated_by = $2), '[]'), \
           'notifications', COALESCE((SELECT jsonb_agg(to_jsonb(n) - 'organisation_id' - 'member_id' ORDER BY n.seq) FROM notifications n WHERE n.organisation_id = $1 AND n.member_id = $2), '[]'), \
           'notification_preferences', jsonb_build_object( \
                'events_off', COALESCE((SELECT jsonb_agg(p.kind ORDER BY p.kind) FROM notification_preferences p WHERE p.organisation_id = $1 AND p.member_id = $2 AND NOT p.enabled), '[]'), \
                'quiet_hours', (SELECT to_jsonb(s) - 'organisation_id' - 'member_id' FROM notification_settings s WHERE s.organisation_id = $1 AND s.member_id = $2)), \
           'stored_responses', COALESCE((SELECT jsonb_agg(jsonb_build_object('key', k.key, 'created_at', k.created_at, 'response_status', k.response_status, 'response_body', k.response_body) ORDER BY k.created_at) \
                FROM idempotency_keys k WHERE k.organisation_id = $1 AND k.member_id = $2), '[]') \
         ) AS doc",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(member)
    .bind::<diesel::sql_types::Nullable<Text>, _>(assertions_url)
    .get_result(conn)
    .await?;
    Ok(doc.doc)
}

/// Everything Frontline holds about the caller, as one JSON document (GDPR article 15).
#[utoipa::path(
    tag = "privacy", operation_id = "my_data",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Profile (with birth date and start date), celebrations, team history, sessions, initiatives, contributions, timeline events, comments, recognitions given and received, reactions, ledger, giving balances, badges and their Open Badges assertions (with public URLs); what the caller created for others (ledger adjustments and reversals, KPI values, challenges, API keys, team moves, lead budgets); stored responses to their retried requests; audit entries about the caller and those where they acted. Sent with `Cache-Control: no-store`.", content_type = "application/json",
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"frontline-my-data.json\"`"))),
        Unauthorized,
    )
)]
#[get("/api/v1/me/data")]
pub async fn my_data(
    db: &State<Db>,
    publication: &State<crate::open_badges::Publication>,
    caller: Caller,
) -> AppResult<Download> {
    let mut conn = db.conn().await?;
    let assertions = publication.urls().map(|u| u.assertions());
    let (org, me) = (caller.organisation_id, caller.member_id);
    let doc = export_member(&mut conn, org, me, assertions.as_deref()).await?;
    let body = serde_json::to_string_pretty(&doc).map_err(AppError::internal)?;
    Ok(Download {
        body: (ContentType::JSON, body),
        disposition: Header::new(
            "Content-Disposition",
            "attachment; filename=\"frontline-my-data.json\"",
        ),
        cache: Header::new("Cache-Control", "no-store"),
    })
}

/// A JSON document to save as a file; personal data, so no cache may keep it.
#[derive(rocket::Responder)]
pub struct Download {
    body: (ContentType, String),
    disposition: Header<'static>,
    cache: Header<'static>,
}

pub const ERASED_NAME: &str = "Erased member";
pub const ERASED_TEXT: &str = "[erased]";

#[derive(Debug, Serialize, ToSchema)]
pub struct Erasure {
    pub member_id: Uuid,
    pub erased_at: chrono::DateTime<Utc>,
}

/// Erase a member (admins): name, email and password go; free text they wrote (initiatives and
/// their outcome, comments, recognition messages, timeline notes, notes on ledger entries and
/// KPI values they recorded) is replaced; stored responses to retried requests that quote them
/// are purged; sessions and invites end.
/// Ledger entries, team aggregates and others' leaderboards stay exactly as they were: the
/// member's id remains as an anonymous key. Irreversible and audited.
#[utoipa::path(
    tag = "privacy", operation_id = "erase_member",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Member id")),
    responses(
        (status = 200, body = Erasure),
        Unauthorized,
        Forbidden,
        NotFound,
        (status = 409, description = "Already erased, or the last active admin (two admins erasing each other at once: one of them)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/members/<id>/erase")]
pub async fn erase(db: &State<Db>, admin: Admin, id: &str) -> AppResult<Json<Erasure>> {
    let id = path_id(id, "member")?;
    let org = admin.organisation_id;
    let by = admin.member_id;
    let mut conn = db.conn().await?;
    let erased_at = crate::db::transaction(&mut conn, move |conn| {
        Box::pin(async move { erase_member(conn, org, id, by).await })
    })
    .await?;
    tracing::info!(organisation_id = %org, member_id = %id, by = %by, "member erased");
    Ok(Json(Erasure {
        member_id: id,
        erased_at,
    }))
}

pub async fn erase_member(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
    by: Uuid,
) -> AppResult<chrono::DateTime<Utc>> {
    type Row = (
        Option<chrono::DateTime<Utc>>,
        Option<chrono::DateTime<Utc>>,
        String,
        String,
    );
    // The admins first, in the order every admin-removing change locks them (see
    // `lock_active_admins`): two admins erasing each other serialise here.
    let admins = crate::members::lifecycle::lock_active_admins(conn, org).await?;
    let row: Row = members::table
        .filter(members::organisation_id.eq(org))
        .filter(members::id.eq(id))
        .select((
            members::erased_at,
            members::deactivated_at,
            members::display_name,
            members::email,
        ))
        .for_update()
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("member"))?;
    let (erased_at, deactivated_at, display_name, email) = row;
    if let Some(at) = erased_at {
        return Err(AppError::Conflict {
            detail: "this member is already erased".into(),
            extra: Some(serde_json::json!({ "erased_at": at })),
        });
    }
    // The same rule as demotion: never leave the organisation without an admin.
    crate::members::lifecycle::ensure_other_admin(&admins, id)?;
    let now = Utc::now();
    diesel::update(
        members::table
            .filter(members::organisation_id.eq(org))
            .filter(members::id.eq(id)),
    )
    .set((
        members::display_name.eq(ERASED_NAME),
        members::email.eq(erased_email(id)),
        members::password_hash.eq(None::<String>),
        members::deactivated_at.eq(deactivated_at.unwrap_or(now)),
        members::erased_at.eq(now),
        members::updated_at.eq(now),
        members::birth_month.eq(None::<i16>),
        members::birth_day.eq(None::<i16>),
        members::started_on.eq(None::<chrono::NaiveDate>),
        members::employee_number.eq(None::<String>),
        members::pin_hash.eq(None::<String>),
        members::sso_subject.eq(None::<String>),
    ))
    .execute(conn)
    .await?;
    forget_celebrations(conn, org, id).await?;
    // Their Open Badges assertions are revoked and name no one any more (not even by hash).
    crate::open_badges::queries::forget_recipient(conn, org, id).await?;
    // The email sent to them, and any waiting, named their address.
    crate::mail::outbox::forget(conn, org, id).await?;
    // What an identity provider asserted about them (SCIM: names, emails; single sign-on:
    // the subject, above, and any code or break-glass place) goes too.
    for statement in [
        "DELETE FROM scim_users WHERE organisation_id = $1 AND member_id = $2",
        "DELETE FROM sso_login_codes WHERE organisation_id = $1 AND member_id = $2",
        "DELETE FROM sso_break_glass_admins WHERE organisation_id = $1 AND member_id = $2",
    ] {
        diesel::sql_query(statement)
            .bind::<SqlUuid, _>(org)
            .bind::<SqlUuid, _>(id)
            .execute(conn)
            .await?;
    }
    let written = written_by(conn, org, id).await?;
    diesel::sql_query(
        "UPDATE initiatives SET title = $3, description = '', customer_reference = NULL \
         WHERE organisation_id = $1 AND author_id = $2",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(ERASED_TEXT)
    .execute(conn)
    .await?;
    // The outcome's words (the KPI's name and unit) go from their own initiatives; its numbers
    // stay, like every other aggregate. Others' initiatives they measured keep theirs: they
    // belong to the other author's record (the erased member's note on the event goes below).
    diesel::sql_query(
        "UPDATE initiatives SET outcome_kpi = $3, outcome_unit = '' \
         WHERE organisation_id = $1 AND outcome_kpi IS NOT NULL AND author_id = $2",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(ERASED_TEXT)
    .execute(conn)
    .await?;
    diesel::update(
        initiative_comments::table
            .filter(initiative_comments::organisation_id.eq(org))
            .filter(initiative_comments::author_id.eq(id)),
    )
    .set(initiative_comments::body.eq(ERASED_TEXT))
    .execute(conn)
    .await?;
    diesel::update(
        recognitions::table
            .filter(recognitions::organisation_id.eq(org))
            .filter(recognitions::giver_id.eq(id)),
    )
    .set(recognitions::message.eq(ERASED_TEXT))
    .execute(conn)
    .await?;
    diesel::update(
        recognition_comments::table
            .filter(recognition_comments::organisation_id.eq(org))
            .filter(recognition_comments::author_id.eq(id)),
    )
    .set(recognition_comments::body.eq(ERASED_TEXT))
    .execute(conn)
    .await?;
    // What they reported, and what they wrote when deciding reports, may name people.
    diesel::update(
        moderation_reports::table
            .filter(moderation_reports::organisation_id.eq(org))
            .filter(moderation_reports::reporter_id.eq(id)),
    )
    .set(moderation_reports::reason.eq(ERASED_TEXT))
    .execute(conn)
    .await?;
    diesel::update(
        moderation_reports::table
            .filter(moderation_reports::organisation_id.eq(org))
            .filter(moderation_reports::resolved_by.eq(id))
            .filter(moderation_reports::resolution_note.is_not_null()),
    )
    .set(moderation_reports::resolution_note.eq(ERASED_TEXT))
    .execute(conn)
    .await?;
    // Reasons they gave for declining colleagues' redemptions.
    diesel::sql_query(
        "UPDATE redemptions SET decline_reason = $3 \
         WHERE organisation_id = $1 AND decided_by = $2 AND decline_reason IS NOT NULL",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(ERASED_TEXT)
    .execute(conn)
    .await?;
    // Timeline events, ledger entries and KPI values are append-only; the erasure is the one
    // exception their trigger allows, and for the `note` column alone.
    diesel::sql_query("SELECT set_config('frontline.erasure', 'on', true)")
        .execute(conn)
        .await?;
    for (table, author) in [
        ("initiative_events", "actor_id"),
        ("ledger_entries", "created_by"),
        ("team_kpis", "recorded_by"),
    ] {
        diesel::sql_query(format!(
            "UPDATE {table} SET note = $3 \
             WHERE organisation_id = $1 AND {author} = $2 AND note IS NOT NULL"
        ))
        .bind::<SqlUuid, _>(org)
        .bind::<SqlUuid, _>(id)
        .bind::<Text, _>(ERASED_TEXT)
        .execute(conn)
        .await?;
    }
    // A KPI correction's audit entry quotes its note.
    diesel::sql_query(
        "UPDATE audit_log SET details = jsonb_set(details, '{note}', to_jsonb($3::text)) \
         WHERE organisation_id = $1 AND actor_member_id = $2 AND action = 'kpi_corrected' \
           AND jsonb_typeof(details -> 'note') = 'string'",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(ERASED_TEXT)
    .execute(conn)
    .await?;
    diesel::sql_query("SELECT set_config('frontline.erasure', 'off', true)")
        .execute(conn)
        .await?;
    forget_in_stored_responses(conn, org, id, &display_name, &email, &written).await?;
    diesel::update(
        member_invites::table
            .filter(member_invites::organisation_id.eq(org))
            .filter(member_invites::member_id.eq(id))
            .filter(member_invites::used_at.is_null()),
    )
    .set(member_invites::expires_at.eq(now))
    .execute(conn)
    .await?;
    sessions::revoke_all(conn, org, id, None, "member erased").await?;
    audit::record(
        conn,
        org,
        Actor::Member(by),
        Action::Erasure,
        Some(("member", id)),
        serde_json::json!({}),
    )
    .await?;
    Ok(now)
}

/// Their celebrations' messages name them and their claims tell which day was their birthday:
/// the messages are blanked (the recognitions and their points stay, as every total does) and
/// the claims go (an erased member is awarded nothing more).
async fn forget_celebrations(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
) -> AppResult<()> {
    diesel::sql_query(
        "UPDATE recognitions SET message = $3 WHERE organisation_id = $1 AND kind = 'celebration' \
           AND id IN (SELECT recognition_id FROM recognition_recipients \
                      WHERE organisation_id = $1 AND member_id = $2)",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(member)
    .bind::<Text, _>(ERASED_TEXT)
    .execute(conn)
    .await?;
    diesel::sql_query("DELETE FROM celebrations WHERE organisation_id = $1 AND member_id = $2")
        .bind::<SqlUuid, _>(org)
        .bind::<SqlUuid, _>(member)
        .execute(conn)
        .await?;
    // Their inbox and its settings (an erased member is told nothing more).
    diesel::sql_query(
        "WITH n AS (DELETE FROM notifications WHERE organisation_id = $1 AND member_id = $2), \
              p AS (DELETE FROM notification_preferences WHERE organisation_id = $1 AND member_id = $2), \
              s AS (DELETE FROM notification_settings WHERE organisation_id = $1 AND member_id = $2) \
         DELETE FROM notification_sequences WHERE organisation_id = $1 AND member_id = $2",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(member)
    .execute(conn)
    .await?;
    Ok(())
}

/// What the member wrote that others' stored responses may quote: their wins' titles and
/// descriptions, their recognitions' messages and their comments.
async fn written_by(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
) -> AppResult<HashSet<String>> {
    let rows: Vec<TextRow> = diesel::sql_query(
        "SELECT title AS t FROM initiatives WHERE organisation_id = $1 AND author_id = $2 \
         UNION SELECT description FROM initiatives WHERE organisation_id = $1 AND author_id = $2 \
         UNION SELECT message FROM recognitions WHERE organisation_id = $1 AND giver_id = $2 \
         UNION SELECT body FROM initiative_comments \
           WHERE organisation_id = $1 AND author_id = $2",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(member)
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| r.t)
        .filter(|t| !t.is_empty())
        .collect())
}

#[derive(diesel::QueryableByName)]
struct TextRow {
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    t: Option<String>,
}

#[derive(diesel::QueryableByName)]
struct StoredResponse {
    #[diesel(sql_type = SqlUuid)]
    member_id: Uuid,
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = Jsonb)]
    response_body: serde_json::Value,
}

/// Fields of a response whose value is words a member wrote.
const WRITTEN_FIELDS: [&str; 5] = ["title", "description", "message", "body", "note"];

/// Stored responses to retried requests (`Idempotency-Key`) may quote the member. Their own
/// go (they can no longer sign in to retry). Others' are rewritten, not deleted: deleting
/// would make a colleague's retry run its request again (a second recognition), so the key
/// keeps replaying, with the member's name, email and words as the live API now shows them.
async fn forget_in_stored_responses(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
    name: &str,
    email: &str,
    written: &HashSet<String>,
) -> AppResult<()> {
    diesel::delete(
        idempotency_keys::table
            .filter(idempotency_keys::organisation_id.eq(org))
            .filter(idempotency_keys::member_id.eq(member)),
    )
    .execute(conn)
    .await?;
    let quoting: Vec<StoredResponse> = diesel::sql_query(
        "SELECT member_id, key, response_body FROM idempotency_keys \
         WHERE organisation_id = $1 AND (strpos(response_body::text, $2::text) > 0 \
           OR jsonb_path_exists(response_body, '$.** ? (@ == $name || @ == $email)', \
                jsonb_build_object('name', $3::text, 'email', $4::text))) \
         FOR UPDATE",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(member)
    .bind::<Text, _>(name)
    .bind::<Text, _>(email)
    .load(conn)
    .await?;
    let erased_email = erased_email(member);
    for mut stored in quoting {
        forget(&mut stored.response_body, None, &|field, text| {
            if text == name {
                Some(ERASED_NAME.to_string())
            } else if text == email {
                Some(erased_email.clone())
            } else if field.is_some_and(|f| WRITTEN_FIELDS.contains(&f)) && written.contains(text) {
                Some(ERASED_TEXT.to_string())
            } else {
                None
            }
        });
        diesel::update(
            idempotency_keys::table
                .filter(idempotency_keys::organisation_id.eq(org))
                .filter(idempotency_keys::member_id.eq(stored.member_id))
                .filter(idempotency_keys::key.eq(&stored.key)),
        )
        .set(idempotency_keys::response_body.eq(&stored.response_body))
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// Replace, anywhere in `value`, each string `replace(field it is under, text)` answers for.
fn forget(
    value: &mut serde_json::Value,
    field: Option<&str>,
    replace: &dyn Fn(Option<&str>, &str) -> Option<String>,
) {
    match value {
        serde_json::Value::String(text) => {
            if let Some(new) = replace(field, text) {
                *text = new;
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                forget(item, field, replace);
            }
        }
        serde_json::Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                forget(item, Some(key), replace);
            }
        }
        _ => {}
    }
}

fn erased_email(member: Uuid) -> String {
    format!("erased-{}@erased.invalid", member.simple())
}

crate::http::operations!(
    /// My data and erasure.
    PrivacyApi { my_data, erase }
);
