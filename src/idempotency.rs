//! `Idempotency-Key` for writes that create points.
//!
//! The key's row is inserted first, inside the write's own transaction. A concurrent request
//! with the same key blocks on the unique index until the first commits, then finds the stored
//! response and replays it; if the first rolled back, the second proceeds as if it were first.
//! So a key creates at most one effect, however many retries race.

use std::io::Cursor;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rocket::http::{ContentType, Header, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::{self, Responder, Response};
use serde::Serialize;

use crate::auth::Caller;
use crate::error::{AppError, AppResult, ErrorSlot};
use crate::http::Fingerprint;
use crate::schema::idempotency_keys;

/// The optional `Idempotency-Key` header: 1-255 visible ASCII characters.
pub struct IdempotencyKey(pub Option<String>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for IdempotencyKey {
    type Error = AppError;
    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        match req.headers().get_one("Idempotency-Key") {
            None => Outcome::Success(IdempotencyKey(None)),
            Some(k)
                if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                Outcome::Success(IdempotencyKey(Some(k.to_string())))
            }
            Some(_) => {
                let e = AppError::invalid(
                    "Idempotency-Key",
                    "must be 1-255 visible ASCII characters, e.g. a UUID",
                );
                Outcome::Error((ErrorSlot::put(req, e.clone_shallow()), e))
            }
        }
    }
}

/// A JSON response that may be a replay of a stored one.
pub struct Replayable {
    pub status: Status,
    pub body: serde_json::Value,
    pub replayed: bool,
}

impl Replayable {
    pub fn new<T: Serialize>(status: Status, body: &T) -> AppResult<Replayable> {
        Ok(Replayable {
            status,
            body: serde_json::to_value(body).map_err(AppError::internal)?,
            replayed: false,
        })
    }
}

impl<'r> Responder<'r, 'static> for Replayable {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let bytes = serde_json::to_vec(&self.body).unwrap_or_default();
        let mut res = Response::build();
        res.status(self.status)
            .header(ContentType::JSON)
            .sized_body(bytes.len(), Cursor::new(bytes));
        if self.replayed {
            res.header(Header::new("Idempotent-Replayed", "true"));
        }
        Ok(res.finalize())
    }
}

pub type Work<'c> = crate::db::Work<'c, Replayable>;

/// Run `work` at most once per (caller, key). Without a key it simply runs. Either way it runs
/// in a transaction that is replayed if it loses a race with concurrent writers, so `work` may
/// be called more than once (only one call's effects ever commit).
pub async fn once<F>(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    key: &IdempotencyKey,
    fingerprint: Fingerprint,
    work: F,
) -> AppResult<Replayable>
where
    F: for<'c> Fn(&'c mut AsyncPgConnection) -> Work<'c> + Send + Sync + 'static,
{
    let work = std::sync::Arc::new(work);
    let key = key.0.clone();
    let org = caller.organisation_id;
    let member = caller.member_id;
    crate::db::transaction(conn, move |conn| {
        let work = work.clone();
        let key = key.clone();
        Box::pin(async move {
            let Some(key) = key else {
                return work(conn).await;
            };
            let claimed = diesel::insert_into(idempotency_keys::table)
                .values((
                    idempotency_keys::organisation_id.eq(org),
                    idempotency_keys::member_id.eq(member),
                    idempotency_keys::key.eq(&key),
                    idempotency_keys::request_hash.eq(fingerprint.0.to_vec()),
                    idempotency_keys::response_status.eq(0i16),
                    idempotency_keys::response_body.eq(serde_json::Value::Null),
                ))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
            if claimed == 0 {
                let (hash, status, body): (Vec<u8>, i16, serde_json::Value) =
                    idempotency_keys::table
                        .filter(idempotency_keys::organisation_id.eq(org))
                        .filter(idempotency_keys::member_id.eq(member))
                        .filter(idempotency_keys::key.eq(&key))
                        .select((
                            idempotency_keys::request_hash,
                            idempotency_keys::response_status,
                            idempotency_keys::response_body,
                        ))
                        .first(conn)
                        .await?;
                if hash != fingerprint.0 {
                    return Err(AppError::invalid(
                        "Idempotency-Key",
                        "was already used for a different request; use a new key for a new request",
                    ));
                }
                let status = u16::try_from(status)
                    .ok()
                    .and_then(Status::from_code)
                    .ok_or_else(|| {
                        AppError::internal("stored idempotent response has no status")
                    })?;
                return Ok(Replayable {
                    status,
                    body,
                    replayed: true,
                });
            }
            let response = work(conn).await?;
            diesel::update(
                idempotency_keys::table
                    .filter(idempotency_keys::organisation_id.eq(org))
                    .filter(idempotency_keys::member_id.eq(member))
                    .filter(idempotency_keys::key.eq(&key)),
            )
            .set((
                idempotency_keys::response_status
                    .eq(i16::try_from(response.status.code).unwrap_or(200)),
                idempotency_keys::response_body.eq(&response.body),
            ))
            .execute(conn)
            .await?;
            Ok(response)
        })
    })
    .await
}

/// Keys are kept for this long; a retry after that is a new request.
pub const RETENTION_DAYS: i64 = 7;

pub async fn purge_expired(conn: &mut AsyncPgConnection) -> AppResult<usize> {
    let cutoff = chrono::Utc::now() - chrono::Duration::days(RETENTION_DAYS);
    Ok(
        diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(cutoff)))
            .execute(conn)
            .await?,
    )
}
