//! The read cache's machinery for the hot read paths (the session behind an access token, an
//! organisation's settings, leaderboard answers): the write clock, [`Shelf`] (one kind of
//! cached read) and the fairing that ticks the clock. Each domain owns its shelves and what
//! they hold (`auth::SessionCache`, `organisations::OrganisationCache`,
//! `leaderboards::cache::BoardCache`); this file knows none of them, so every module may use it.
//!
//! Leaderboards are read far more often than they change, and a board that has to look at
//! the database costs several index scans; served from memory it costs a hash lookup. The
//! promise that a point is on the board as soon as the request that created it has answered
//! still holds, because of how entries are invalidated:
//!
//! - A process-wide write clock ticks after every write to an organisation: the
//!   [`InvalidateOnWrite`] fairing ticks it when a state-changing request (POST, PUT, PATCH,
//!   DELETE) has been handled, so after its transaction committed and before its response is
//!   sent, for the caller's organisation (requests the authentication guards refused wrote
//!   nothing; handlers without a caller say what they wrote with a [`WriteNote`], else every
//!   organisation's entries go). Code that writes inside a safe request (completing a
//!   challenge on a read) calls [`wrote`] itself.
//! - A reader notes the clock ([`mark`]) before it reads the database and stores what it read
//!   with that mark. An entry is served only while no write to its organisation has ticked
//!   the clock past its mark: a write that committed before the read began is in the entry,
//!   and any later write invalidates it.
//! - Other server processes on the database are told what was written ([`wrote`] fills an
//!   outbox that `broadcast` sends through PostgreSQL `NOTIFY` every 100 ms) and tick their
//!   clocks ([`tick`]) within a fraction of a second.
//! - Writes no server process made (the CLI, SQL) are bounded by the time to live,
//!   `read_cache_ttl_ms` (10 s by default; 0 turns the cache off; each entry lives between
//!   half of it and all of it, so that entries read together do not expire together).

mod shelf;
mod ticks;

use std::sync::Mutex;

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::Method;
use rocket::{Request, Response};
use uuid::Uuid;

pub use shelf::{Lag, Shelf, Weigh};
pub use ticks::{Outbox, collect_paid, mark, members_paid, paid, take_outbox, tick, wrote};

/// The write clock is process-wide: tests that tick it, here and in the domains' caches, run
/// one at a time (a write to every organisation would invalidate another test's entries).
#[cfg(test)]
pub(crate) static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What a state-changing request may have changed, as far as cached reads care.
#[derive(Debug, Clone, Copy)]
enum Changed {
    /// The handler did not run (authentication failed) or says it changed nothing cached.
    Nothing,
    /// The organisation, and the member who wrote (who sees what they wrote at once, on
    /// every shelf).
    Organisation(Uuid, Option<Uuid>),
}

/// Request-local: set by the authentication guards (the caller's organisation, or nothing
/// when they refuse the request) and by handlers without a caller through [`WriteNote`].
#[derive(Default)]
pub struct Noted(Mutex<Option<Changed>>);

impl Noted {
    fn set(&self, changed: Changed) {
        let mut slot = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // A later refusal by another guard does not hide an organisation already known.
        if !matches!(
            (*slot, changed),
            (Some(Changed::Organisation(..)), Changed::Nothing)
        ) {
            *slot = Some(changed);
        }
    }
}

/// The request is authenticated for `organisation` (as `member`, when a member makes it):
/// its writes are that organisation's.
pub fn authenticated(req: &Request<'_>, organisation: Uuid, member: Option<Uuid>) {
    req.local_cache(Noted::default)
        .set(Changed::Organisation(organisation, member));
}

/// The request was refused before its handler ran: it wrote nothing.
pub fn refused(req: &Request<'_>) {
    req.local_cache(Noted::default).set(Changed::Nothing);
}

/// For handlers without an authenticated caller (login, refresh, invites): say what the
/// request changed, so that the fairing does not invalidate every organisation's entries.
pub struct WriteNote<'r>(&'r Noted);

impl WriteNote<'_> {
    pub fn organisation(&self, organisation: Uuid) {
        self.0.set(Changed::Organisation(organisation, None));
    }

    pub fn nothing_cached(&self) {
        self.0.set(Changed::Nothing);
    }
}

#[rocket::async_trait]
impl<'r> rocket::request::FromRequest<'r> for WriteNote<'r> {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> rocket::request::Outcome<Self, Self::Error> {
        rocket::request::Outcome::Success(WriteNote(req.local_cache(Noted::default)))
    }
}

/// Ticks the write clock after every state-changing request (see the module documentation).
pub struct InvalidateOnWrite;

#[rocket::async_trait]
impl Fairing for InvalidateOnWrite {
    fn info(&self) -> Info {
        Info {
            name: "read cache invalidation",
            kind: Kind::Response,
        }
    }

    async fn on_response<'r>(&self, req: &'r Request<'_>, _res: &mut Response<'r>) {
        if matches!(req.method(), Method::Get | Method::Head | Method::Options) {
            return;
        }
        let noted = *req
            .local_cache(Noted::default)
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match noted {
            Some(Changed::Nothing) => {}
            Some(Changed::Organisation(org, member)) => {
                // Whoever wrote sees it at once, on boards too (read your own writes).
                if let Some(member) = member {
                    members_paid(&[member]);
                }
                wrote(Some(org));
            }
            // Nobody said: assume it may have changed anything.
            None => wrote(None),
        }
    }
}
