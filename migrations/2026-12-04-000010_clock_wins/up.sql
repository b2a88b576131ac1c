-- Wins go by the service's clock too (see src/clock.rs): exports count them per period and
-- challenges and streaks per window, so a test that pins the clock at a period's turn must
-- find its wins there.
ALTER TABLE initiatives
    ALTER COLUMN created_at SET DEFAULT frontline_now(),
    ALTER COLUMN updated_at SET DEFAULT frontline_now();
-- A timeline orders its events by time: the clock's time plus what has elapsed in the
-- transaction, so the events one transaction writes keep their order under a pinned clock.
-- Without one this is clock_timestamp(), as before.
ALTER TABLE initiative_events
    ALTER COLUMN created_at SET DEFAULT frontline_now() + (clock_timestamp() - now());
