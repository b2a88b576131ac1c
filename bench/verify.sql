-- Check an organisation against the project's own definitions, then roll back:
--   * its boards equal what rebuild_boards(org) (the leaderboards migration) computes;
--   * team_sizes equals a recount of active members per team (what the members trigger keeps).
-- Run by scripts/bench on the small organisation after seeding it (rebuild_boards goes through
-- one temporary table of every entry x period x dimension: fine for 200k entries), and by
-- bench/soak.py after the soak's traffic (the board queues folded first).
-- psql variable: org_id. Prints one line per check and fails (ON_ERROR_STOP) on a mismatch.

\set ON_ERROR_STOP on
BEGIN;
SELECT set_config('bench.org', :'org_id', true);
CREATE TEMP TABLE seeded_mpp ON COMMIT DROP AS
    SELECT * FROM member_period_points WHERE organisation_id = :'org_id';
CREATE TEMP TABLE seeded_tpp ON COMMIT DROP AS
    SELECT * FROM team_period_points WHERE organisation_id = :'org_id';
-- A bucket of 0 members is no bucket: writes leave them behind (a member's total moved away and
-- nobody else holds it), readers skip them, a rebuild never makes them.
CREATE TEMP TABLE seeded_hist ON COMMIT DROP AS
    SELECT * FROM member_points_histogram WHERE organisation_id = :'org_id' AND members <> 0;
SELECT rebuild_boards(:'org_id');

DO $verify$
DECLARE
    org uuid := current_setting('bench.org')::uuid;
    a bigint;
    b bigint;
BEGIN
    SELECT count(*) INTO a FROM (SELECT * FROM seeded_mpp EXCEPT ALL
        SELECT * FROM member_period_points WHERE organisation_id = org) x;
    SELECT count(*) INTO b FROM (SELECT * FROM member_period_points WHERE organisation_id = org
        EXCEPT ALL SELECT * FROM seeded_mpp) x;
    IF a + b > 0 THEN RAISE EXCEPTION 'member_period_points differs from rebuild_boards: % seeded rows not rebuilt, % rebuilt rows not seeded', a, b; END IF;
    RAISE NOTICE 'member_period_points: % rows, identical to rebuild_boards', (SELECT count(*) FROM seeded_mpp);

    SELECT count(*) INTO a FROM (SELECT * FROM seeded_tpp EXCEPT ALL
        SELECT * FROM team_period_points WHERE organisation_id = org) x;
    SELECT count(*) INTO b FROM (SELECT * FROM team_period_points WHERE organisation_id = org
        EXCEPT ALL SELECT * FROM seeded_tpp) x;
    IF a + b > 0 THEN RAISE EXCEPTION 'team_period_points differs from rebuild_boards: % / % rows', a, b; END IF;
    RAISE NOTICE 'team_period_points: % rows, identical to rebuild_boards', (SELECT count(*) FROM seeded_tpp);

    SELECT count(*) INTO a FROM (SELECT * FROM seeded_hist EXCEPT ALL
        SELECT * FROM member_points_histogram WHERE organisation_id = org) x;
    SELECT count(*) INTO b FROM (SELECT * FROM member_points_histogram WHERE organisation_id = org
        EXCEPT ALL SELECT * FROM seeded_hist) x;
    IF a + b > 0 THEN RAISE EXCEPTION 'member_points_histogram differs from rebuild_boards: % / % rows', a, b; END IF;
    RAISE NOTICE 'member_points_histogram: % rows, identical to rebuild_boards', (SELECT count(*) FROM seeded_hist);

    SELECT count(*) INTO a FROM teams t
    LEFT JOIN team_sizes s ON s.organisation_id = t.organisation_id AND s.team_id = t.id
    WHERE t.organisation_id = org
      AND s.active_members IS DISTINCT FROM (SELECT count(*) FROM members m
            WHERE m.organisation_id = org AND m.team_id = t.id AND m.deactivated_at IS NULL);
    IF a > 0 THEN RAISE EXCEPTION 'team_sizes is wrong for % teams', a; END IF;
    RAISE NOTICE 'team_sizes: matches a recount of active members for every team';

    IF NOT EXISTS (SELECT 1 FROM point_rules WHERE organisation_id = org) THEN
        RAISE EXCEPTION 'no point_rules row';
    END IF;
END
$verify$;
ROLLBACK;
