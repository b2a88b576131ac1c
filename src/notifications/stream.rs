//! `GET /api/v1/me/notifications/stream`: the caller's new notifications as Server-Sent
//! Events, for an open app.
//!
//! Each event is a notification (`event: notification`, `id:` its `seq`, `data:` its JSON).
//! A client that reconnects sends `Last-Event-ID` (browsers do it themselves) and gets exactly
//! what came after it: `seq` numbers follow commit order with no gap (see `inbox`), so "after
//! N" never skips a row that commits later and never repeats one. Without an id (or `after`),
//! the stream starts with what comes next.
//!
//! A stream holds no database connection while it waits: it reads (at most [`BATCH`] rows,
//! one pooled connection per read) when woken (`wakeups`: a delivery through this process or,
//! via `NOTIFY`, through another) and every `sse_poll_secs` whatever happens. `:` heartbeats
//! keep proxies from closing it. It ends when the server shuts down or after
//! `sse_max_lifetime_secs`, and the client reconnects. Bounded: a few streams per member and
//! a few thousand per process ([`StreamSlots`]), 100 rows per read, one coalescing wake per
//! member.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rocket::futures::Stream;
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::stream::{Event, EventStream};
use rocket::response::{self, Responder};
use rocket::{Shutdown, State, get};
use utoipa::IntoParams;
use uuid::Uuid;

use super::queries;
use crate::auth::Caller;
use crate::config::Settings;
use crate::db::Db;
use crate::error::{AppError, AppResult, ErrorSlot};
use crate::openapi::responses::{Invalid, Unauthorized};
use crate::wakeups;

/// The most notifications one read sends.
pub const BATCH: i64 = 100;

/// How long a client waits before reconnecting (the `retry:` field).
const RETRY: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy)]
struct Bounds {
    heartbeat: Duration,
    poll: Duration,
    per_member: usize,
    max: usize,
    lifetime: Duration,
}

/// The open streams of this process, per member: Rocket state.
#[derive(Clone)]
pub struct StreamSlots {
    bounds: Bounds,
    open: Arc<Mutex<(usize, HashMap<Uuid, usize>)>>,
}

/// One open stream's place, given back when the stream ends.
pub struct Slot {
    open: Arc<Mutex<(usize, HashMap<Uuid, usize>)>>,
    member: Uuid,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.0 = open.0.saturating_sub(1);
        if let Some(n) = open.1.get_mut(&self.member) {
            *n -= 1;
            if *n == 0 {
                open.1.remove(&self.member);
            }
        }
    }
}

impl StreamSlots {
    pub fn new(settings: &Settings) -> StreamSlots {
        StreamSlots {
            bounds: Bounds {
                heartbeat: Duration::from_secs(settings.sse_heartbeat_secs.max(1)),
                poll: Duration::from_secs(settings.sse_poll_secs.max(1)),
                per_member: settings.sse_streams_per_member,
                max: settings.sse_max_streams,
                lifetime: Duration::from_secs(settings.sse_max_lifetime_secs.max(1)),
            },
            open: Arc::default(),
        }
    }

    /// A place for one more stream of `member`: 429 past their share, 503 past the process's.
    fn take(&self, member: Uuid) -> AppResult<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let mine = open.1.get(&member).copied().unwrap_or(0);
        if mine >= self.bounds.per_member {
            return Err(AppError::TooManyRequests {
                detail: format!(
                    "you have {mine} notification streams open; close one (one per app is enough)"
                ),
                retry_after_secs: RETRY.as_secs(),
            });
        }
        if open.0 >= self.bounds.max {
            return Err(AppError::Unavailable(
                "this server has as many notification streams open as it serves; try again shortly"
                    .into(),
            ));
        }
        open.0 += 1;
        *open.1.entry(member).or_insert(0) += 1;
        Ok(Slot {
            open: self.open.clone(),
            member,
        })
    }
}

/// The `Last-Event-ID` request header: the `seq` of the last notification the client has.
pub struct LastEventId(Option<i64>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for LastEventId {
    type Error = AppError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        match req.headers().get_one("Last-Event-ID").map(str::trim) {
            None | Some("") => Outcome::Success(LastEventId(None)),
            Some(raw) => match raw.parse::<i64>() {
                Ok(n) if n >= 0 => Outcome::Success(LastEventId(Some(n))),
                _ => {
                    let e = AppError::invalid(
                        "Last-Event-ID",
                        "must be an event id (a whole number, 0 or more) this stream sent",
                    );
                    Outcome::Error((ErrorSlot::put(req, e.clone_shallow()), e))
                }
            },
        }
    }
}

#[derive(Debug, rocket::form::FromForm, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// Start after this `seq` (as `Last-Event-ID` does, which wins over it).
    #[param(value_type = Option<i64>, minimum = 0)]
    pub after: Option<String>,
}

/// An event stream, unbuffered by proxies that honour `X-Accel-Buffering`.
pub struct Streamed<S>(EventStream<S>);

impl<'r, S: Stream<Item = Event> + Send + 'r> Responder<'r, 'r> for Streamed<S> {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'r> {
        let mut res = self.0.respond_to(req)?;
        res.set_raw_header("X-Accel-Buffering", "no");
        Ok(res)
    }
}

/// The caller's new notifications as Server-Sent Events (`event: notification`, `id:` the
/// `seq`, `data:` the notification), resuming after `Last-Event-ID` (or `after`) with no gap
/// and no repeat; without either, from what comes next. Notifications of quiet hours are
/// not sent (they are in the inbox). `:` heartbeats; the stream ends on shutdown or after
/// `sse_max_lifetime_secs`, and the client reconnects.
#[utoipa::path(
    tag = "notifications",
    security(("bearer" = [])),
    params(
        StreamParams,
        ("Last-Event-ID" = Option<i64>, Header, description = "The `id` of the last event received: the stream resumes after it"),
    ),
    responses(
        (status = 200, content_type = "text/event-stream", body = super::Notification, description = "A stream of `notification` events, each `data` one notification"),
        Unauthorized,
        Invalid,
        (status = 429, description = "The member has as many streams open on this server as allowed (`sse_streams_per_member`)", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/me/notifications/stream?<params..>")]
pub async fn stream(
    db: &State<Db>,
    slots: &State<StreamSlots>,
    caller: Caller,
    last: LastEventId,
    params: StreamParams,
    shutdown: Shutdown,
) -> AppResult<Streamed<impl Stream<Item = Event> + Send + 'static>> {
    let mut errors = Vec::new();
    let after = params
        .after
        .as_deref()
        .map(|raw| crate::http::int_param("after", Some(raw), 0, (0, i64::MAX), &mut errors));
    crate::http::check(errors)?;
    let (org, me) = (caller.organisation_id, caller.member_id);
    let slot = slots.take(me)?;
    let db = db.inner().clone();
    let start = match last.0.or(after) {
        Some(seq) => seq,
        None => queries::last_seq(&mut *db.conn().await?, org, me).await?,
    };
    let feed = Feed { db, org, me, slot };
    Ok(Streamed(feed.events(start, shutdown, slots.bounds)))
}

struct Feed {
    db: Db,
    org: Uuid,
    me: Uuid,
    slot: Slot,
}

impl Feed {
    async fn read(&self, after: i64) -> AppResult<Vec<super::Notification>> {
        let mut conn = self.db.conn().await?;
        queries::after(&mut conn, self.org, self.me, after, BATCH).await
    }

    fn events(
        self,
        mut last: i64,
        mut shutdown: Shutdown,
        bounds: Bounds,
    ) -> EventStream<impl Stream<Item = Event> + Send + 'static> {
        let deadline = tokio::time::Instant::now() + bounds.lifetime;
        EventStream! {
            yield Event::retry(RETRY);
            // Subscribed before the first read: a delivery committed after it wakes the wait.
            let mut wake = wakeups::subscribe(self.me);
            loop {
                let rows = match self.read(last).await {
                    Ok(rows) => rows,
                    Err(e) => {
                        // The client reconnects after `retry` with its Last-Event-ID.
                        tracing::warn!(error = %e.chain(), "a notification stream could not read; ending it");
                        break;
                    }
                };
                let full = rows.len() as i64 == BATCH;
                for n in rows {
                    last = n.seq;
                    yield Event::json(&n).event("notification").id(n.seq.to_string());
                }
                if full {
                    continue;
                }
                tokio::select! {
                    _ = wake.changed() => {}
                    _ = tokio::time::sleep(bounds.poll) => {}
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep_until(deadline) => break,
                }
            }
            drop(self.slot);
        }
        .heartbeat(bounds.heartbeat)
    }
}
