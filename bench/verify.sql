-- Check an organisation (seeded, or after make soak) against the project's own definitions, then roll back:
--   * every ledger entry has the source the server would have written it for (a recognition's
--     recipient, a win's step or contributor, a badge held), and every source its entries;
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

    -- Recognitions: one entry per recipient, with the recognition's points, time and dimension.
    SELECT count(*) INTO a FROM ledger_entries l
    WHERE l.organisation_id = org AND l.reason = 'recognition_received'
      AND NOT EXISTS (SELECT 1 FROM recognition_recipients rr
                      JOIN recognitions r ON r.organisation_id = rr.organisation_id AND r.id = rr.recognition_id
                      WHERE rr.organisation_id = org AND rr.recognition_id = l.source_id AND rr.member_id = l.member_id
                        AND l.source_type = 'recognition' AND r.points_each = l.points AND r.created_at = l.created_at
                        AND r.dimension IS NOT DISTINCT FROM l.dimension);
    SELECT (SELECT count(*) FROM recognition_recipients rr WHERE rr.organisation_id = org)
         - (SELECT count(*) FROM ledger_entries l WHERE l.organisation_id = org AND l.reason = 'recognition_received') INTO b;
    IF a <> 0 OR b <> 0 THEN RAISE EXCEPTION 'recognition entries: % without their recipient, % recipients unpaid', a, b; END IF;
    RAISE NOTICE 'ledger: every recognition_received entry is a recipient''s, and every recipient was paid';

    -- Wins: the steps' entries at the steps' times (submission and contributors paid on approval
    -- or on submission, as the organisation's point rules say).
    -- Exact times hold for a seed only: the server stamps an event with the moment it is
    -- written in its transaction and the entry with the transaction's start, milliseconds
    -- apart, so make soak turns this part off (SET bench.win_sources = 'off') and checks each
    -- win it wrote through the API instead.
    IF coalesce(current_setting('bench.win_sources', true), '') <> 'off' THEN
        SELECT count(*) INTO a FROM (
            SELECT l.reason, l.source_id, l.member_id, l.created_at FROM ledger_entries l
            WHERE l.organisation_id = org AND l.reason LIKE 'initiative_%'
            EXCEPT ALL
            SELECT x.reason, i.id, x.member_id, x.at FROM initiatives i
            JOIN point_rules p ON p.organisation_id = i.organisation_id
            CROSS JOIN LATERAL (
                SELECT 'initiative_submitted', i.author_id,
                       CASE WHEN p.submission_points_on_approval
                            THEN (SELECT e.created_at FROM initiative_events e WHERE e.organisation_id = org
                                  AND e.initiative_id = i.id AND e.kind = 'approved') ELSE i.created_at END
                UNION ALL
                SELECT 'initiative_' || e.kind, i.author_id, e.created_at FROM initiative_events e
                WHERE e.organisation_id = org AND e.initiative_id = i.id AND e.kind IN ('approved', 'implemented', 'measured')
                UNION ALL
                SELECT 'initiative_contribution', c.member_id, e.created_at FROM initiative_contributors c
                JOIN initiative_events e ON e.organisation_id = org AND e.initiative_id = i.id AND e.kind = 'approved'
                WHERE c.organisation_id = org AND c.initiative_id = i.id) x(reason, member_id, at)
            WHERE i.organisation_id = org AND x.at IS NOT NULL) d;
        SELECT count(*) INTO b FROM (
            SELECT x.reason, i.id, x.member_id, x.at FROM initiatives i
            CROSS JOIN LATERAL (
                SELECT 'initiative_' || e.kind, i.author_id, e.created_at FROM initiative_events e
                WHERE e.organisation_id = org AND e.initiative_id = i.id AND e.kind IN ('approved', 'implemented', 'measured')) x(reason, member_id, at)
            WHERE i.organisation_id = org
            EXCEPT ALL
            SELECT l.reason, l.source_id, l.member_id, l.created_at FROM ledger_entries l
            WHERE l.organisation_id = org AND l.reason LIKE 'initiative_%') d;
        IF a <> 0 OR b <> 0 THEN RAISE EXCEPTION 'win entries: % without their step, % steps unpaid', a, b; END IF;
        RAISE NOTICE 'ledger: every initiative_* entry is a win''s step or contribution, and every step was paid';
    END IF;

    -- Badges: an entry for each badge held that carries points, at its award.
    SELECT count(*) INTO a FROM (
        SELECT l.source_id, l.member_id, l.points, l.created_at FROM ledger_entries l
        WHERE l.organisation_id = org AND l.reason = 'badge'
        EXCEPT ALL
        SELECT mb.badge_id, mb.member_id, bd.points, mb.awarded_at FROM member_badges mb
        JOIN badges bd ON bd.organisation_id = mb.organisation_id AND bd.id = mb.badge_id
        WHERE mb.organisation_id = org AND bd.points > 0) d;
    SELECT (SELECT count(*) FROM member_badges mb JOIN badges bd ON bd.organisation_id = mb.organisation_id AND bd.id = mb.badge_id
            WHERE mb.organisation_id = org AND bd.points > 0)
         - (SELECT count(*) FROM ledger_entries l WHERE l.organisation_id = org AND l.reason = 'badge') INTO b;
    IF a <> 0 OR b <> 0 THEN RAISE EXCEPTION 'badge entries: % without their award, % awards unpaid', a, b; END IF;
    RAISE NOTICE 'ledger: every badge entry is an award''s, and every award with points was paid';

    IF NOT EXISTS (SELECT 1 FROM point_rules WHERE organisation_id = org) THEN
        RAISE EXCEPTION 'no point_rules row';
    END IF;
END
$verify$;
ROLLBACK;
