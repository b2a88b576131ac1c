-- The time the rules of calendars go by (daily cap, allowances, boards, exports, streaks): the
-- application's clock when it has set one on this session (tests pin it: see src/clock.rs),
-- else the transaction's own. The real clock never sets it, so production keeps now().
CREATE FUNCTION frontline_now() RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('frontline.now', true), '')::timestamptz, now())
$$;

-- The timestamps those rules read: the ledger (boards, exports) and recognitions (the daily
-- cap per recipient, streaks).
ALTER TABLE ledger_entries ALTER COLUMN created_at SET DEFAULT frontline_now();
ALTER TABLE recognitions ALTER COLUMN created_at SET DEFAULT frontline_now();
ALTER TABLE recognition_recipients ALTER COLUMN created_at SET DEFAULT frontline_now();
