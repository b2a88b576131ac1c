//! Taking a recognition back: its giver undoes it (within the organisation's undo window), or
//! an admin hides it after a report. Either way every entry it paid (recipients' and boosts')
//! that is not reversed yet gets a reversing entry, each pot that paid is refunded, the boards
//! follow in the same transaction (the ledger's trigger), and the recognition is kept, marked.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::giving;
use super::queries;
use super::visibility::Viewer;
use super::{Recognition, Status};
use crate::audit::{self, Action, Actor};
use crate::error::{AppError, AppResult};
use crate::ledger::{self, Credit, EntryRow, Reason, SourceType};
use crate::schema::{ledger_entries, recognitions};
use crate::vocabulary::Dimension;

/// A recognition's row as taking it back needs it, read under its row lock.
pub struct Locked {
    /// None for a celebration: nobody may undo it.
    pub giver_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub status: Status,
}

/// Giver, given at, undone at, hidden at.
type LockedRow = (
    Option<Uuid>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

/// Lock recognition `id` for `viewer` (404 when they may not see it): boosts, undo and hiding
/// of one recognition take this lock first, so they serialise and none acts on a recognition
/// another has just taken back.
pub async fn lock(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<Locked> {
    let row: Option<LockedRow> = recognitions::table
        .filter(recognitions::organisation_id.eq(org))
        .filter(recognitions::id.eq(id))
        .filter(viewer.condition())
        .select((
            recognitions::giver_id,
            recognitions::created_at,
            recognitions::undone_at,
            recognitions::hidden_at,
        ))
        .for_no_key_update()
        .first(conn)
        .await
        .optional()?;
    let (giver_id, created_at, undone, hidden) =
        row.ok_or_else(|| AppError::not_found("recognition"))?;
    let status = match (hidden, undone) {
        (Some(_), _) => Status::Hidden,
        (None, Some(_)) => Status::Undone,
        (None, None) => Status::Active,
    };
    Ok(Locked {
        giver_id,
        created_at,
        status,
    })
}

/// Its giver takes recognition `id` back, within `window_hours` of giving it: answers it,
/// `undone`.
pub async fn undo(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    viewer: &Viewer,
    id: Uuid,
    window_hours: i32,
    now: DateTime<Utc>,
) -> AppResult<Recognition> {
    let locked = lock(conn, org, viewer, id).await?;
    if locked.giver_id != Some(viewer.member) {
        return Err(AppError::Forbidden(
            "only the giver of a recognition may undo it".into(),
        ));
    }
    if locked.status != Status::Active {
        return Err(AppError::conflict(format!(
            "this recognition is already {}",
            locked.status.as_str()
        )));
    }
    let until = locked.created_at + chrono::Duration::hours(i64::from(window_hours));
    if now > until {
        return Err(AppError::Conflict {
            detail: format!(
                "a recognition can be undone for {window_hours} hours after it is given; ask an admin to correct it"
            ),
            extra: Some(serde_json::json!({ "undo_until": until })),
        });
    }
    // Only an undo that may go ahead takes the organisation's fold lock: refused ones (not the
    // giver, too late, already undone) must not hold up its challenges.
    hold_challenges(conn, org).await?;
    refuse_if_spent(conn, org, id).await?;
    refuse_if_it_completed_a_challenge(conn, org, id).await?;
    let reversed = take(conn, org, id, viewer.member, now, Status::Undone).await?;
    let detail =
        serde_json::json!({ "reversed_entries": reversed.entries, "points": reversed.points });
    let subject = Some(("recognition", id));
    audit::record(
        conn,
        org,
        Actor::Member(viewer.member),
        Action::RecognitionUndone,
        subject,
        detail,
    )
    .await?;
    queries::load(conn, org, viewer, id).await
}

/// An undo must not take back points a recipient has already spent on a reward: the giver's
/// allowance would come back while the reward stayed, a way to mint. Each recipient's
/// redemption lock is taken (in member order) so a racing redemption waits for the undo, then
/// their spendable balance must cover what the undo takes from them. (An admin's hide may take
/// a balance below zero: moderation is not a trade.)
async fn refuse_if_spent(conn: &mut AsyncPgConnection, org: Uuid, id: Uuid) -> AppResult<()> {
    let mut owed: Vec<(Uuid, i64)> = Vec::new();
    for e in unreversed(conn, org, id).await? {
        match owed.iter_mut().find(|(m, _)| *m == e.member_id) {
            Some((_, p)) => *p += i64::from(e.points),
            None => owed.push((e.member_id, i64::from(e.points))),
        }
    }
    owed.sort();
    for (member, points) in owed {
        let key = crate::sql::advisory_key_of("redemption", org, &[member.as_bytes()]);
        crate::sql::advisory_xact_lock(conn, key).await?;
        if ledger::balance(conn, org, member).await? < points {
            return Err(AppError::Conflict {
                detail: "a recipient has already spent these points on a reward: ask an admin"
                    .into(),
                extra: Some(serde_json::json!({ "recipient": member })),
            });
        }
    }
    Ok(())
}

/// Challenges count recognitions given and received and points earned; what a recognition
/// counted must leave their tallies with it (the migration `taken_back_activity` writes the
/// negative activity), before any challenge completes on it. The challenges' fold lock makes
/// this transaction the organisation's only fold until it commits; [`take`] folds in it. Taken
/// after the recognition's row lock (fold ticks never take recognition rows).
async fn hold_challenges(conn: &mut AsyncPgConnection, org: Uuid) -> AppResult<()> {
    let key = crate::sql::advisory_key("challenge fold", org, 0);
    crate::sql::advisory_xact_lock(conn, key).await
}

/// An undo must not take back activity a challenge has already completed (and paid its
/// rewards) on: the allowance would come back while the rewards stayed. Any completed challenge
/// of a recognition metric whose window holds the recognition, of its dimension and of a team
/// it counted for (the giver's at the time, a recipient's), completed since it was given,
/// refuses the undo. (An admin's hide still takes it back: moderation is not a trade.)
async fn refuse_if_it_completed_a_challenge(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
) -> AppResult<()> {
    #[derive(QueryableByName)]
    struct Completed {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: Uuid,
        #[diesel(sql_type = diesel::sql_types::Text)]
        title: String,
    }
    let completed: Option<Completed> = diesel::sql_query(
        "SELECT c.id, c.title FROM recognitions r \
         JOIN challenges c ON c.organisation_id = r.organisation_id \
         WHERE r.organisation_id = $1 AND r.id = $2 \
           AND c.completed_at >= r.created_at AND c.ends_at > r.created_at \
           AND c.metric IN ('recognitions_given', 'recognitions_received', 'points_earned') \
           AND (c.dimension IS NULL OR c.dimension = r.dimension) \
           AND (c.team_id IS NULL \
                OR c.team_id IN (SELECT rr.team_id FROM recognition_recipients rr \
                                 WHERE rr.organisation_id = $1 AND rr.recognition_id = r.id) \
                OR EXISTS (SELECT 1 FROM team_memberships tm \
                           WHERE tm.organisation_id = $1 AND tm.member_id = r.giver_id \
                             AND tm.team_id = c.team_id AND tm.started_at <= r.created_at \
                             AND (tm.ended_at IS NULL OR tm.ended_at > r.created_at))) \
         ORDER BY c.completed_at, c.id LIMIT 1",
    )
    .bind::<diesel::sql_types::Uuid, _>(org)
    .bind::<diesel::sql_types::Uuid, _>(id)
    .get_result(conn)
    .await
    .optional()?;
    match completed {
        None => Ok(()),
        Some(c) => Err(AppError::Conflict {
            detail: format!(
                "this recognition counted towards the challenge \"{}\", completed since: ask an admin",
                c.title
            ),
            extra: Some(serde_json::json!({ "challenge_id": c.id })),
        }),
    }
}

/// An admin hides recognition `id` (moderation): its points are reversed as by an undo, and only
/// admins see it from now on. Runs in the moderation's transaction; audited there.
pub async fn hide(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    admin: &Viewer,
    id: Uuid,
    now: DateTime<Utc>,
) -> AppResult<Reversed> {
    let locked = lock(conn, org, admin, id).await?;
    if locked.status == Status::Hidden {
        return Err(AppError::conflict("this recognition is already hidden"));
    }
    hold_challenges(conn, org).await?;
    take(conn, org, id, admin.member, now, Status::Hidden).await
}

/// Reverse what recognition `id` paid and mark it `how` (undone or hidden) by `by` at `now`.
async fn take(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
    by: Uuid,
    now: DateTime<Utc>,
    how: Status,
) -> AppResult<Reversed> {
    let note = match how {
        Status::Hidden => "recognition hidden by moderation",
        _ => "recognition undone by its giver",
    };
    let reversed = reverse_all(conn, org, id, by, note).await?;
    let row = recognitions::table
        .filter(recognitions::organisation_id.eq(org))
        .filter(recognitions::id.eq(id));
    let update = diesel::update(row);
    match how {
        Status::Hidden => {
            let marked = (
                recognitions::hidden_at.eq(now),
                recognitions::hidden_by.eq(by),
            );
            update.set(marked).execute(conn).await?
        }
        _ => {
            let marked = (
                recognitions::undone_at.eq(now),
                recognitions::undone_by.eq(by),
            );
            update.set(marked).execute(conn).await?
        }
    };
    // The negative activity just written leaves the tallies now, not at the next tick.
    crate::gamification::challenges::fold(conn, org).await?;
    crate::notifications::inbox::withdraw_recognition(conn, org, id).await?;
    Ok(reversed)
}

/// What taking a recognition back reversed.
#[derive(Debug, Default, Clone, Copy)]
pub struct Reversed {
    pub entries: usize,
    /// The points taken from recipients (and given back to the pots that paid).
    pub points: i64,
}

/// Reverse every entry recognition `id` paid that is not reversed yet (an admin may have
/// reversed one already: each entry is reversed once), and refund the pot behind each.
async fn reverse_all(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
    by: Uuid,
    note: &str,
) -> AppResult<Reversed> {
    let paid = unreversed(conn, org, id).await?;
    let credits: Vec<Credit> = paid
        .iter()
        .map(|e| {
            let mut c = Credit::new(e.member_id, -e.points, Reason::Reversal)
                .source(SourceType::LedgerEntry, e.id)
                .dimension(
                    e.dimension
                        .as_deref()
                        .and_then(|d| Dimension::parse_field(d, "dimension").ok()),
                );
            c.note = Some(note.to_string());
            c.created_by = Some(by);
            c.reverses = Some(e.id);
            c
        })
        .collect();
    ledger::record(conn, org, credits).await?;
    let mut points = 0;
    for e in &paid {
        points += i64::from(e.points);
        match (e.reason.as_str(), e.created_by) {
            ("recognition_received", _) => {
                giving::refund(conn, org, id, e.points).await?;
            }
            ("recognition_boost", Some(booster)) => {
                giving::refund_boost(conn, org, id, booster, e.points).await?;
            }
            _ => {}
        }
    }
    Ok(Reversed {
        entries: paid.len(),
        points,
    })
}

/// The entries recognition `id` paid that no reversal names yet.
async fn unreversed(conn: &mut AsyncPgConnection, org: Uuid, id: Uuid) -> AppResult<Vec<EntryRow>> {
    let reversing = diesel::alias!(ledger_entries as reversing);
    let paid: Vec<EntryRow> = ledger_entries::table
        .filter(ledger_entries::organisation_id.eq(org))
        .filter(ledger_entries::source_type.eq(SourceType::Recognition.as_str()))
        .filter(ledger_entries::source_id.eq(id))
        .filter(ledger_entries::reverses.is_null())
        .filter(diesel::dsl::not(diesel::dsl::exists(
            reversing.filter(
                reversing
                    .field(ledger_entries::reverses)
                    .eq(ledger_entries::id.nullable()),
            ),
        )))
        .select(EntryRow::as_select())
        .load(conn)
        .await?;
    Ok(paid)
}
