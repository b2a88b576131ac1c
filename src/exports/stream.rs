//! The export as a stream: batches of members (or teams) are read by keyset, aggregated for
//! the whole range, encoded and sent before the next batch is read, so the server's memory
//! stays flat however large the organisation. The stream owns a connection of the exports' own
//! pool and reads in one REPEATABLE READ, READ ONLY transaction (begun by `limits`, which
//! holds the organisation's slot in it): every batch sees the same snapshot. What a batch
//! holds, and its reading, are in `batch`.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use diesel_async::RunQueryDsl;
use rocket::futures::stream::{self, Stream};
use tokio::io::{AsyncRead, ReadBuf};
use uuid::Uuid;

use super::batch::{self, Batch, KpiSet, Plan, Subjects, ValueKeys};
use super::params::{Bucket, Format, GroupBy};
use super::queries::{self, Activity, Keyset, MemberRow, TeamRow};
use super::render::{Cell, Encoder, Pseudonymiser};
use crate::db::Conn;
use crate::error::{AppError, AppResult};

/// Bytes gathered before they are handed to the socket.
const CHUNK_BYTES: usize = 64 * 1024;
/// Members (or teams) times periods per batch: bounds the aggregates held at once.
const BATCH_CELLS: usize = 20_000;
const MAX_BATCH: usize = 1_000;
const MIN_BATCH: usize = 10;

/// What replaces the team of a member row when the team has fewer active members than the
/// minimum group size, or when the member has no team (pseudonymised exports only).
pub const SUPPRESSED: &str = "suppressed";
/// What an erased member is called in an export that is not pseudonymised.
pub const ERASED: &str = "erased member";

pub const MEMBER_COLUMNS: &[&str] = &[
    "period",
    "period_start",
    "period_end",
    "member_id",
    "display_name",
    "email",
    "team_id",
    "team_name",
    "initiatives_submitted",
    "initiatives_approved",
    "initiatives_implemented",
    "initiatives_measured",
    "recognitions_given",
    "recognitions_received",
    "points_earned",
    "active",
    "csat",
    "nps",
    "ces",
    "fcr",
    "other_kpis",
    "recognitions_by_value",
];

pub const PSEUDONYMISED_MEMBER_COLUMNS: &[&str] = &[
    "period",
    "period_start",
    "period_end",
    "pseudonym",
    "team_id",
    "team_name",
    "initiatives_submitted",
    "initiatives_approved",
    "initiatives_implemented",
    "initiatives_measured",
    "recognitions_given",
    "recognitions_received",
    "points_earned",
    "active",
    "csat",
    "nps",
    "ces",
    "fcr",
    "other_kpis",
    "recognitions_by_value",
];

pub const TEAM_COLUMNS: &[&str] = &[
    "period",
    "period_start",
    "period_end",
    "team_id",
    "team_name",
    "members",
    "active_members",
    "initiatives_submitted",
    "initiatives_approved",
    "initiatives_implemented",
    "initiatives_measured",
    "recognitions_given",
    "recognitions_received",
    "points_earned",
    "csat",
    "nps",
    "ces",
    "fcr",
    "other_kpis",
    "recognitions_by_value",
];

/// What ends an export that failed after it started.
pub fn failure_marker(format: Format) -> &'static [u8] {
    match format {
        Format::Csv => b"export failed before it was complete; retry it\r\n",
        Format::Ndjson => b"{\"error\":\"export failed before it was complete; retry it\"}\n",
        Format::Json => b"",
    }
}

pub struct Exporter {
    conn: Option<Conn>,
    /// False while the connection may be mid-transaction or mid-query: dropping the exporter
    /// then closes the connection instead of returning it to the pool.
    clean: bool,
    done: bool,
    plan: Plan,
    encoder: Encoder,
    pseudonymiser: Option<Pseudonymiser>,
    /// Keyset ranges still to read, in order.
    ranges: VecDeque<Keyset>,
    batch: Option<Batch>,
    batch_size: usize,
    /// Read with the first batch, in the export's snapshot.
    values: Option<ValueKeys>,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if !self.clean
            && let Some(conn) = self.conn.take()
        {
            // A client that hangs up mid-export leaves the transaction open: close the
            // connection (the server rolls back) rather than pool it.
            drop(diesel_async::pooled_connection::deadpool::Object::take(
                conn,
            ));
        }
    }
}

impl Exporter {
    /// `conn` is already in the export's transaction; the exporter commits it at the end.
    pub fn new(conn: Conn, plan: Plan) -> Exporter {
        let p = &plan.params;
        let columns = match (p.group_by, p.pseudonymise) {
            (GroupBy::Team, _) => TEAM_COLUMNS,
            (GroupBy::Member, false) => MEMBER_COLUMNS,
            (GroupBy::Member, true) => PSEUDONYMISED_MEMBER_COLUMNS,
        };
        let encoder = Encoder::new(p.format, columns, p.bom);
        let pseudonymise_members = p.pseudonymise && p.group_by == GroupBy::Member;
        let pseudonymiser = pseudonymise_members.then(Pseudonymiser::new);
        // Member rows of a pseudonymised export are read by id from a random point (and
        // shuffled within each batch), so two exports do not list members in the same order.
        let ranges: VecDeque<Keyset> = if pseudonymise_members {
            let pivot = Uuid::from_bytes(rand::random());
            VecDeque::from([
                Keyset {
                    by_name: false,
                    after_name: String::new(),
                    after_id: pivot,
                    upto: Uuid::max(),
                },
                Keyset {
                    by_name: false,
                    after_name: String::new(),
                    after_id: Uuid::nil(),
                    upto: pivot,
                },
            ])
        } else {
            VecDeque::from([Keyset {
                by_name: true,
                after_name: String::new(),
                after_id: Uuid::nil(),
                upto: Uuid::max(),
            }])
        };
        let batch_size = (BATCH_CELLS / p.buckets.len().max(1)).clamp(MIN_BATCH, MAX_BATCH);
        Exporter {
            conn: Some(conn),
            clean: false,
            done: false,
            plan,
            encoder,
            pseudonymiser,
            ranges,
            batch: None,
            batch_size,
            values: None,
        }
    }

    /// The response body: chunks of at least 64 KiB (the last may be smaller).
    ///
    /// A failure after the status was sent is logged and ends the body with a marker the
    /// client can detect (Rocket 0.5 ends a streamed body cleanly whatever happens, so the
    /// marker is what tells a short export from a complete one): CSV a last record of one
    /// field, which a strict parser refuses; NDJSON a last line `{"error": ...}`; JSON an
    /// array that is never closed.
    pub fn into_stream(self) -> impl Stream<Item = io::Result<Vec<u8>>> + Send + 'static {
        stream::unfold(Some(self), |state| async move {
            let mut exporter = state?;
            match exporter.next_chunk().await {
                Ok(Some(bytes)) => Some((Ok(bytes), Some(exporter))),
                Ok(None) => None,
                Err(e) => {
                    tracing::error!(
                        organisation_id = %exporter.plan.organisation_id,
                        rows = exporter.encoder.rows(),
                        error = %e,
                        "engagement export failed mid-stream"
                    );
                    let mut bytes = exporter.encoder.take().unwrap_or_default();
                    bytes.extend_from_slice(failure_marker(exporter.plan.params.format));
                    Some((Ok(bytes), None))
                }
            }
        })
    }

    fn conn(&mut self) -> AppResult<&mut Conn> {
        self.conn
            .as_mut()
            .ok_or_else(|| AppError::internal("export connection already released"))
    }

    async fn next_chunk(&mut self) -> AppResult<Option<Vec<u8>>> {
        if self.done {
            return Ok(None);
        }
        loop {
            if self.batch.is_some() {
                self.emit()?;
            }
            if self.encoder.pending() >= CHUNK_BYTES {
                return Ok(Some(self.encoder.take().map_err(AppError::internal)?));
            }
            if self.batch.is_none() && !self.load_batch().await? {
                diesel::sql_query("COMMIT").execute(self.conn()?).await?;
                self.clean = true;
                self.done = true;
                tracing::info!(
                    organisation_id = %self.plan.organisation_id,
                    rows = self.encoder.rows(),
                    "engagement export streamed"
                );
                return Ok(Some(self.encoder.finish().map_err(AppError::internal)?));
            }
        }
    }

    /// Read the next batch; false when there is none left.
    async fn load_batch(&mut self) -> AppResult<bool> {
        loop {
            let Some(keyset) = self.ranges.front().cloned() else {
                return Ok(false);
            };
            let org = self.plan.organisation_id;
            let team = self.plan.params.team;
            let limit = self.batch_size as i64;
            let subjects = match self.plan.params.group_by {
                GroupBy::Member => Subjects::Members(
                    queries::members_page(self.conn()?, org, team, &keyset, limit).await?,
                ),
                GroupBy::Team => Subjects::Teams(
                    queries::teams_page(self.conn()?, org, team, &keyset, limit).await?,
                ),
            };
            let (count, last) = match &subjects {
                Subjects::Members(m) => (m.len(), m.last().map(|r| (r.sort_name.clone(), r.id))),
                Subjects::Teams(t) => (t.len(), t.last().map(|r| (r.sort_name.clone(), r.id))),
            };
            match (last, count < self.batch_size) {
                (_, true) => {
                    self.ranges.pop_front();
                }
                (Some((name, id)), false) => {
                    if let Some(k) = self.ranges.front_mut() {
                        k.after_name = name;
                        k.after_id = id;
                    }
                }
                (None, false) => unreachable!("a full batch has a last row"),
            }
            if count == 0 {
                continue;
            }
            let conn = self
                .conn
                .as_mut()
                .ok_or_else(|| AppError::internal("export connection already released"))?;
            if self.values.is_none() {
                self.values = Some(ValueKeys::load(conn, &self.plan).await?);
            }
            let batch = batch::aggregate(conn, &self.plan, self.pseudonymiser.as_ref(), subjects);
            self.batch = Some(batch.await?);
            return Ok(true);
        }
    }

    /// Encode rows of the current batch until a chunk is full or the batch is done.
    fn emit(&mut self) -> AppResult<()> {
        let Some(mut batch) = self.batch.take() else {
            return Ok(());
        };
        let buckets = &self.plan.params.buckets;
        let subjects = match &batch.subjects {
            Subjects::Members(m) => m.len(),
            Subjects::Teams(t) => t.len(),
        };
        let mut cells = Vec::with_capacity(MEMBER_COLUMNS.len());
        while batch.subject < subjects {
            while batch.bucket < buckets.len() {
                let b = &buckets[batch.bucket];
                cells.clear();
                let row = match &batch.subjects {
                    Subjects::Members(m) => {
                        self.member_row(&batch, &m[batch.subject], batch.bucket, b, &mut cells)
                    }
                    Subjects::Teams(t) => {
                        self.team_row(&batch, &t[batch.subject], batch.bucket, b, &mut cells)
                    }
                };
                batch.bucket += 1;
                if row {
                    self.encoder.push(&cells).map_err(AppError::internal)?;
                    if self.encoder.pending() >= CHUNK_BYTES {
                        self.batch = Some(batch);
                        return Ok(());
                    }
                }
            }
            batch.subject += 1;
            batch.bucket = 0;
        }
        Ok(())
    }

    fn period_cells(b: &Bucket, out: &mut Vec<Cell>) {
        out.push(Cell::Text(b.label.clone()));
        out.push(Cell::Text(b.start.to_string()));
        out.push(Cell::Text(b.end.to_string()));
    }

    fn count_cells(a: Option<&Activity>, out: &mut Vec<Cell>) {
        let a = a.cloned().unwrap_or_default();
        for n in [
            a.wins.submitted,
            a.wins.approved,
            a.wins.implemented,
            a.wins.measured,
            a.given,
            a.received,
            a.points,
        ] {
            out.push(Cell::Int(n));
        }
    }

    /// The cells of one member row; false when the member has no row in this period.
    fn member_row(
        &self,
        batch: &Batch,
        m: &MemberRow,
        i: usize,
        b: &Bucket,
        out: &mut Vec<Cell>,
    ) -> bool {
        let activity = batch.activity.get(&(m.id, i));
        let enrolled = m.created_at < b.end_at && m.deactivated_at.is_none_or(|d| d > b.start_at);
        if !enrolled && activity.is_none() {
            return false;
        }
        // Members without a team form a group of their own that no minimum protects.
        let suppressed = self.plan.params.pseudonymise
            && m.team_id.is_none_or(|t| batch.small_teams.contains(&t));
        if suppressed && self.plan.params.team.is_some() {
            // The filter itself names the team: no row can hide in a group.
            return false;
        }
        Self::period_cells(b, out);
        match &self.pseudonymiser {
            Some(ps) => out.push(Cell::Text(ps.pseudonym(m.id))),
            None if m.erased_at.is_some() => {
                out.extend([Cell::Null, Cell::Text(ERASED.into()), Cell::Null]);
            }
            None => out.extend([
                Cell::Text(m.id.to_string()),
                Cell::Text(m.display_name.clone()),
                Cell::Text(m.email.clone()),
            ]),
        }
        if suppressed {
            out.extend([Cell::Null, Cell::Text(SUPPRESSED.into())]);
        } else {
            out.push(
                m.team_id
                    .map(|t| Cell::Text(t.to_string()))
                    .unwrap_or(Cell::Null),
            );
            out.push(m.team_name.clone().map(Cell::Text).unwrap_or(Cell::Null));
        }
        Self::count_cells(activity, out);
        out.push(Cell::Bool(activity.is_some_and(Activity::active)));
        let kpis = if suppressed {
            None
        } else {
            m.team_id.and_then(|t| batch.kpis.get(&(t, i)))
        };
        KpiSet::cells(kpis, out);
        self.value_cell(batch, m.id, i, out);
        true
    }

    /// The cells of one team row; false when the team has no row in this period.
    fn team_row(
        &self,
        batch: &Batch,
        t: &TeamRow,
        i: usize,
        b: &Bucket,
        out: &mut Vec<Cell>,
    ) -> bool {
        let activity = batch.activity.get(&(t.id, i));
        let members = batch.headcount.get(&(t.id, i)).copied().unwrap_or(0);
        let live = t.created_at < b.end_at && t.archived_at.is_none_or(|a| a > b.start_at);
        if !live && members == 0 && activity.is_none() {
            return false;
        }
        // The row's figures are sums over the members active in the team in the period, so
        // those are the group that must be large enough (not everyone on the team's books).
        let active_members = activity.map(|a| a.active_members).unwrap_or(0);
        if self.plan.params.pseudonymise && active_members < self.plan.min_group_size {
            return false;
        }
        Self::period_cells(b, out);
        out.push(Cell::Text(t.id.to_string()));
        out.push(Cell::Text(t.name.clone()));
        out.push(Cell::Int(members));
        out.push(Cell::Int(active_members));
        Self::count_cells(activity, out);
        KpiSet::cells(batch.kpis.get(&(t.id, i)), out);
        self.value_cell(batch, t.id, i, out);
        true
    }

    /// `recognitions_by_value` of a member or team in period `i`. Hashtags belong to the
    /// organisation, not to a person, so pseudonymised rows keep them like any other count.
    fn value_cell(&self, batch: &Batch, subject: Uuid, i: usize, out: &mut Vec<Cell>) {
        match &self.values {
            Some(values) => values.cell(batch.by_value.get(&(subject, i)), out),
            // Read before the first batch: never the case.
            None => out.push(Cell::Counts(Vec::new())),
        }
    }
}

/// The streamed body as `AsyncRead`, which Rocket sends chunked.
pub struct Body {
    stream: Pin<Box<dyn Stream<Item = io::Result<Vec<u8>>> + Send>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Body {
    pub fn new(stream: impl Stream<Item = io::Result<Vec<u8>>> + Send + 'static) -> Body {
        Body {
            stream: Box::pin(stream),
            buf: Vec::new(),
            pos: 0,
        }
    }
}

impl AsyncRead for Body {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if self.pos < self.buf.len() {
                let n = out.remaining().min(self.buf.len() - self.pos);
                let start = self.pos;
                out.put_slice(&self.buf[start..start + n]);
                self.pos += n;
                return Poll::Ready(Ok(()));
            }
            match self.stream.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(bytes))) => {
                    self.buf = bytes;
                    self.pos = 0;
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(None) => return Poll::Ready(Ok(())),
            }
        }
    }
}
