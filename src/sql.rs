//! SQL functions Diesel does not ship.

use diesel::define_sql_function;
use diesel::sql_types::Text;

define_sql_function!(fn lower(x: Text) -> Text);
define_sql_function!(fn upper(x: diesel::sql_types::Nullable<Text>) -> diesel::sql_types::Nullable<Text>);

define_sql_function!(
    /// The time calendars go by, in SQL: the service clock's when it set one on this
    /// connection (tests pin it: see `clock`), else the transaction's `now()`.
    fn frontline_now() -> diesel::sql_types::Timestamptz
);

/// [`frontline_now`] read once, for a rule decided in Rust on a connection's time (the day of
/// a cap, whether a challenge runs): the same instant the connection's SQL goes by.
pub async fn now(
    conn: &mut diesel_async::AsyncPgConnection,
) -> crate::error::AppResult<chrono::DateTime<chrono::Utc>> {
    use diesel_async::RunQueryDsl;
    Ok(diesel::select(frontline_now()).get_result(conn).await?)
}

/// Take the transaction-level advisory lock `key` if no other transaction holds it: `false`
/// when one does. Held until the transaction ends, on whichever server process took it, so
/// several processes agree on who holds it.
pub async fn try_advisory_xact_lock(
    conn: &mut diesel_async::AsyncPgConnection,
    key: i64,
) -> crate::error::AppResult<bool> {
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Locked {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        locked: bool,
    }
    let got: Locked = diesel::sql_query("SELECT pg_try_advisory_xact_lock($1) AS locked")
        .bind::<diesel::sql_types::BigInt, _>(key)
        .get_result(conn)
        .await?;
    Ok(got.locked)
}

/// Take the transaction-level advisory lock `key`, waiting for whoever holds it. Held until
/// the transaction ends, on whichever server process took it.
pub async fn advisory_xact_lock(
    conn: &mut diesel_async::AsyncPgConnection,
    key: i64,
) -> crate::error::AppResult<()> {
    use diesel_async::RunQueryDsl;
    diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
        .bind::<diesel::sql_types::BigInt, _>(key)
        .execute(conn)
        .await?;
    Ok(())
}

/// An advisory lock key for `n` of an organisation's locks of kind `tag`: the first 8 bytes of
/// a SHA-256, so that kinds (export slots, challenge folds) never share keys by design.
pub fn advisory_key(tag: &str, org: uuid::Uuid, n: u32) -> i64 {
    advisory_key_of(tag, org, &[&n.to_be_bytes()])
}

/// An advisory lock key for the organisation's lock of kind `tag` on what `parts` name (the
/// bytes are hashed one after another: separate variable-length parts with a zero byte).
pub fn advisory_key_of(tag: &str, org: uuid::Uuid, parts: &[&[u8]]) -> i64 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(tag.as_bytes());
    h.update([0]);
    h.update(org.as_bytes());
    for part in parts {
        h.update(part);
    }
    let digest = h.finalize();
    let mut key = [0u8; 8];
    key.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(key)
}

/// A raw SQL query (`diesel::sql_query` and its binds) that each connection prepares once and
/// keeps, by its text: Diesel never caches a raw query's statement, so each run costs a
/// round trip to prepare it and PostgreSQL parses and plans it again. For the statements a
/// hot read path runs many times a second with the same text (the boards' reads); build the
/// text from constants, never from values, or every variant is kept.
#[derive(Debug, Clone)]
pub struct Prepared<Q>(pub Q);

impl<Q: diesel::query_builder::Query> diesel::query_builder::Query for Prepared<Q> {
    type SqlType = Q::SqlType;
}

impl<Q> diesel::query_builder::QueryFragment<diesel::pg::Pg> for Prepared<Q>
where
    Q: diesel::query_builder::QueryFragment<diesel::pg::Pg>,
{
    fn walk_ast<'b>(
        &'b self,
        pass: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &diesel::pg::Pg) -> diesel::QueryResult<bool> {
        // Safe: the text is the cache's key, and the text carries no values (see above).
        Ok(true)
    }
}

impl<Q> diesel::query_builder::QueryId for Prepared<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

/// A condition that recognition `recognition` (an SQL expression of its id, in the organisation
/// `$1`) stands: neither undone by its giver nor hidden by moderation. What counts
/// recognitions (badges, streaks, challenges, exports, analytics) counts only these: an undo
/// gives the allowance back, so a count that kept undone recognitions could be farmed. One probe
/// of a small partial index (`recognitions_taken_back_idx`) per row.
pub fn standing(recognition: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM recognitions taken_back \
         WHERE taken_back.organisation_id = $1 AND taken_back.id = {recognition} \
           AND (taken_back.undone_at IS NOT NULL OR taken_back.hidden_at IS NOT NULL))"
    )
}
