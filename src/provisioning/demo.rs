//! `frontline demo`: the demo organisation, loaded all or nothing.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::people::{self, DEMO_MEMBERS, DEMO_PASSWORD, DEMO_SLUG, People};
use super::{recognitions, rewards, wins};
use crate::auth::{Role, passwords};
use crate::error::{AppError, AppResult};
use crate::schema::organisations;

/// Whether `frontline demo` may run under this configuration profile. The demo's logins share
/// a password printed in this repository: under the release profile (a production database)
/// it takes `--force` to load them.
pub fn demo_allowed(profile: &str, force: bool) -> Result<(), String> {
    if profile.eq_ignore_ascii_case("release") && !force {
        return Err(
            "refusing to load the demo under the release profile: its logins share a \
             public password. Use a development database, or pass --force if you mean it"
                .into(),
        );
    }
    Ok(())
}

pub struct DemoLogins {
    pub created: bool,
    pub logins: Vec<(String, Role)>,
}

/// Load the demo organisation unless it exists. Either way, return its logins.
///
/// Its activity (wins through their lifecycle, comments, recognitions) goes through the same
/// domain functions as the API, each action in its own (nested) transaction as a request's
/// would be, so every point is a ledger entry and every allowance, budget and cap applies. The
/// whole demo is one transaction: a failure leaves nothing behind, so the next run loads it
/// afresh instead of finding half an organisation "already loaded". (The price: rows stamped
/// with the transaction's `now()` share one timestamp.)
pub async fn demo(conn: &mut AsyncPgConnection) -> AppResult<DemoLogins> {
    let logins = DEMO_MEMBERS
        .iter()
        .map(|(email, _, role, _)| (email.to_string(), *role))
        .collect();
    let exists: Option<Uuid> = organisations::table
        .filter(organisations::slug.eq(DEMO_SLUG))
        .select(organisations::id)
        .first(conn)
        .await
        .optional()?;
    if exists.is_some() {
        return Ok(DemoLogins {
            created: false,
            logins,
        });
    }
    // One hash for all demo logins: hashing is deliberately slow.
    let hash = passwords::hash(DEMO_PASSWORD.to_string()).await?;
    conn.transaction::<_, AppError, _>(async move |conn| {
        let (org, people) = people::demo_people(conn, hash).await?;
        demo_activity(conn, org, &people).await?;
        // Today's birthday and anniversary in the feed (see people::demo_birth_date).
        crate::celebrations::award::award_organisation(conn, org, chrono::Utc::now()).await?;
        Ok(())
    })
    .await?;
    Ok(DemoLogins {
        created: true,
        logins,
    })
}

/// Wins through their lifecycles, comments, recognitions, and rewards redeemed with the points
/// they paid: each in its own transaction.
async fn demo_activity(conn: &mut AsyncPgConnection, org: Uuid, people: &People) -> AppResult<()> {
    let wins = wins::load(conn, org, people).await?;
    recognitions::load(conn, org, people, &wins).await?;
    rewards::load(conn, org, people).await
}
