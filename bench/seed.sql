-- Benchmark seeding: one organisation of :members members in :teams teams with :entries ledger
-- entries spread over the last 730 days, and its leaderboards. Run by scripts/bench with
-- `psql --single-transaction`, after `frontline bootstrap` has created the organisation and its
-- admin (whose argon2 password hash every seeded member gets).
--
-- psql variables: org_id, slug, members, teams, entries, chunk_members, drop_indexes (0/1),
-- version (recorded in bench.seeds with what was seeded).
--
-- The bulk load runs with session_replication_role = replica: triggers (the ledger's board
-- trigger, team sizes, append-only guards) and foreign-key checks are off for this session, so
-- everything they would maintain is written here, and checked by bench/verify.sql:
--   team_sizes              one row per team with its active member count;
--   member_period_points,   what rebuild_boards(org) computes (the same GROUP BYs), but
--   team_period_points,     computed in chunks of whole teams straight from the ledger instead
--   member_points_histogram of through one temporary table of every (entry x period x
--                           dimension), which for 20M entries would be ~160M rows on disk.
-- Ids are deterministic and ascend in insertion order (an 8-hex-digit prefix per organisation
-- and kind, then a counter), so index inserts append instead of landing on random pages.

\set ON_ERROR_STOP on
SET session_replication_role = replica;
SET maintenance_work_mem = '1GB';
SET work_mem = '512MB';
SET max_parallel_workers_per_gather = 0;   -- keeps random() reproducible (one process)
SET synchronous_commit = off;
SELECT setseed(0.20261127);

SELECT set_config('bench.org', :'org_id', true),
       set_config('bench.slug', :'slug', true),
       set_config('bench.members', :'members', true),
       set_config('bench.teams', :'teams', true),
       set_config('bench.entries', :'entries', true),
       set_config('bench.chunk', :'chunk_members', true),
       set_config('bench.drop_indexes', :'drop_indexes', true),
       set_config('bench.version', :'version', true);

SET client_min_messages = warning;
CREATE SCHEMA IF NOT EXISTS bench;
CREATE TABLE IF NOT EXISTS bench.seeds (
    slug            text PRIMARY KEY,
    version         text NOT NULL,
    organisation_id uuid NOT NULL,
    members         integer NOT NULL,
    teams           integer NOT NULL,
    entries         bigint NOT NULL,
    seeded_at       timestamptz NOT NULL DEFAULT now(),
    seconds         numeric,
    details         jsonb
);
SET client_min_messages = notice;

DO $seed$
DECLARE
    org        uuid    := current_setting('bench.org')::uuid;
    v_slug     text    := current_setting('bench.slug');
    n_members  integer := current_setting('bench.members')::integer;
    n_teams    integer := current_setting('bench.teams')::integer;
    n_entries  bigint  := current_setting('bench.entries')::bigint;
    chunk      integer := current_setting('bench.chunk')::integer;
    drop_idx   boolean := current_setting('bench.drop_indexes') = '1';
    tz         text;
    hash       text;
    per_team   integer;
    pfx_t      text := substr(md5(v_slug || ':team'), 1, 8);
    pfx_m      text := substr(md5(v_slug || ':member'), 1, 8);
    pfx_s      text := substr(md5(v_slug || ':stint'), 1, 8);
    pfx_l      text := substr(md5(v_slug || ':ledger'), 1, 8);
    lo         integer;
    hi         integer;
    t0         timestamptz;
    r          record;
    n          bigint;
BEGIN
    SELECT o.time_zone INTO STRICT tz FROM organisations o WHERE o.id = org;
    -- The bootstrap admin's argon2 hash (the benchmark password) for every seeded member.
    SELECT m.password_hash INTO STRICT hash
    FROM members m WHERE m.organisation_id = org AND m.role = 'admin' AND m.password_hash IS NOT NULL
    ORDER BY m.created_at LIMIT 1;
    IF n_members % n_teams <> 0 THEN
        RAISE EXCEPTION 'members (%) must be a multiple of teams (%)', n_members, n_teams;
    END IF;
    per_team := n_members / n_teams;
    -- Chunks hold whole teams: a chunk's members and teams aggregate independently.
    chunk := greatest(per_team, chunk / per_team * per_team);

    -- Teams --------------------------------------------------------------------------------
    t0 := clock_timestamp();
    INSERT INTO teams (organisation_id, id, name, created_at, updated_at)
    SELECT org, (pfx_t || lpad(to_hex(t), 24, '0'))::uuid, format('Team %s', lpad(t::text, 5, '0')),
           now() - interval '800 days', now() - interval '800 days'
    FROM generate_series(1, n_teams) t;
    ANALYZE teams;   -- statistics for the statements below (without them, plans go quadratic)
    RAISE NOTICE 'teams: % in %', n_teams, clock_timestamp() - t0;

    -- Members: member k is in team (k-1)/per_team+1; the first of each team is its lead, the
    -- last is deactivated (1%: kept off the boards, points still count for the team).
    t0 := clock_timestamp();
    INSERT INTO members (organisation_id, id, email, display_name, role, team_id, password_hash,
                         deactivated_at, created_at, updated_at)
    SELECT org, (pfx_m || lpad(to_hex(k), 24, '0'))::uuid,
           format('m%s@%s.example', k, v_slug),
           (ARRAY['Ada','Ben','Chloe','Dev','Eli','Frida','Gus','Hanna','Ivo','Jana','Kai','Lena',
                  'Mia','Nils','Omar','Pia','Quinn','Rosa','Sami','Tove','Uma','Vic','Wen','Yara',
                  'Zoe','Aron','Bea','Cyrus','Dina','Emil'])[1 + (k * 7) % 30]
             || ' ' ||
           (ARRAY['Berg','Chen','Dahl','Eker','Fors','Garcia','Holm','Iqbal','Jensen','Khan','Lund',
                  'Moe','Nagy','Olsen','Patel','Quist','Rossi','Sand','Tran','Ueda','Vik','Wong',
                  'Xu','Yilmaz','Zorn','Aalto','Brun','Costa','Diaz','Ek'])[1 + (k * 13 + k / 30) % 30]
             || ' ' || k,
           CASE WHEN (k - 1) % per_team = 0 THEN 'team_lead' ELSE 'employee' END,
           (pfx_t || lpad(to_hex((k - 1) / per_team + 1), 24, '0'))::uuid,
           hash,
           CASE WHEN k % per_team = 0 AND per_team > 1 THEN now() - interval '20 days' END,
           now() - interval '760 days', now() - interval '760 days'
    FROM generate_series(1, n_members) k;
    INSERT INTO team_memberships (organisation_id, id, member_id, team_id, started_at)
    SELECT org, (pfx_s || lpad(to_hex(k), 24, '0'))::uuid, (pfx_m || lpad(to_hex(k), 24, '0'))::uuid,
           (pfx_t || lpad(to_hex((k - 1) / per_team + 1), 24, '0'))::uuid, now() - interval '760 days'
    FROM generate_series(1, n_members) k;
    ANALYZE members, team_memberships;
    INSERT INTO team_sizes (organisation_id, team_id, active_members)
    SELECT org, t.id, coalesce(c.active, 0)
    FROM teams t
    LEFT JOIN (SELECT m.team_id, count(*) FILTER (WHERE m.deactivated_at IS NULL) AS active
               FROM members m WHERE m.organisation_id = org AND m.team_id IS NOT NULL
               GROUP BY m.team_id) c ON c.team_id = t.id
    WHERE t.organisation_id = org
    ON CONFLICT (organisation_id, team_id) DO UPDATE SET active_members = EXCLUDED.active_members;
    RAISE NOTICE 'members: % (+ team history, team sizes) in %', n_members, clock_timestamp() - t0;

    -- Ledger: activity is skewed. Each member has a weight u^-1/2 capped at 30 (Pareto-like),
    -- times 0.15 for one member in five (occasional users); entries are handed out in
    -- proportion to weight, adding up to exactly n_entries. With 20 entries per member on
    -- average: occasional users get 2-4, the median member ~17, the busiest ~370. A member's
    -- entries are spread evenly with jitter over the last 730 days, newest first.
    t0 := clock_timestamp();
    CREATE TEMP TABLE bench_activity ON COMMIT DROP AS
    SELECT k, sum(w) OVER (ORDER BY k) AS cum
    FROM (SELECT k, least(power(random(), -0.5), 30.0) * CASE WHEN random() < 0.2 THEN 0.15 ELSE 1 END AS w
          FROM generate_series(1, n_members) k) x;
    CREATE TEMP TABLE bench_counts ON COMMIT DROP AS
    SELECT k, (round(n_entries * cum / tot) - round(n_entries * coalesce(prev, 0) / tot))::integer AS n
    FROM (SELECT k, cum, lag(cum) OVER (ORDER BY k) AS prev FROM bench_activity) a,
         (SELECT max(cum) AS tot FROM bench_activity) s
    ORDER BY k;
    CREATE TEMP SEQUENCE bench_ledger_seq;
    FOR lo IN 1 .. n_members BY chunk LOOP
        hi := least(lo + chunk - 1, n_members);
        INSERT INTO ledger_entries (organisation_id, id, member_id, team_id, points, reason, dimension, created_at)
        SELECT org, (pfx_l || lpad(to_hex(nextval('bench_ledger_seq')), 24, '0'))::uuid,
               (pfx_m || lpad(to_hex(c.k), 24, '0'))::uuid,
               (pfx_t || lpad(to_hex((c.k - 1) / per_team + 1), 24, '0'))::uuid,
               CASE WHEN x.u1 < 0.05 THEN 50 + floor(x.u2 * 51)::int ELSE 5 + floor(x.u2 * 26)::int END,
               CASE WHEN x.u3 < 0.40 THEN 'recognition_received'
                    WHEN x.u3 < 0.60 THEN 'initiative_submitted'
                    WHEN x.u3 < 0.75 THEN 'initiative_approved'
                    WHEN x.u3 < 0.83 THEN 'initiative_implemented'
                    WHEN x.u3 < 0.87 THEN 'initiative_measured'
                    WHEN x.u3 < 0.95 THEN 'initiative_contribution'
                    ELSE 'badge' END,
               CASE WHEN x.u4 < 0.60 THEN (ARRAY['trust','problem_solving','time_and_effort',
                    'expectations','personalisation','empathy'])[1 + floor(x.u4 / 0.10)::int] END,
               now() - interval '730 days' * ((j - 1 + x.u5) / c.n)
        FROM bench_counts c
        CROSS JOIN LATERAL generate_series(1, c.n) j
        -- (j IS NOT NULL makes the subquery depend on the row: fresh random numbers each time.)
        CROSS JOIN LATERAL (SELECT random() AS u1, random() AS u2, random() AS u3, random() AS u4,
                                   random() AS u5 WHERE j IS NOT NULL OFFSET 0) x
        WHERE c.k BETWEEN lo AND hi;
        IF (lo - 1) / chunk % 10 = 0 OR hi = n_members THEN
            RAISE NOTICE 'ledger: members %-% of % (% so far)', lo, hi, n_members, clock_timestamp() - t0;
        END IF;
    END LOOP;
    ANALYZE ledger_entries;
    SELECT count(*) INTO n FROM ledger_entries e WHERE e.organisation_id = org;
    IF n <> n_entries THEN
        RAISE EXCEPTION 'seeded % ledger entries, expected %', n, n_entries;
    END IF;
    RAISE NOTICE 'ledger: % entries in %', n, clock_timestamp() - t0;

    -- Boards --------------------------------------------------------------------------------
    -- A big load drops the boards' indexes (recreated below from their own definitions, read
    -- here from the catalogue), so rows append to the heap and each index is built in one sort.
    CREATE TEMP TABLE bench_index_defs (tbl text, name text, is_constraint boolean, def text) ON COMMIT DROP;
    IF drop_idx THEN
        INSERT INTO bench_index_defs
        SELECT i.indrelid::regclass::text, c.relname, con.oid IS NOT NULL,
               CASE WHEN con.oid IS NOT NULL
                    THEN format('ALTER TABLE %s ADD CONSTRAINT %I %s', i.indrelid::regclass, con.conname,
                                pg_get_constraintdef(con.oid))
                    ELSE pg_get_indexdef(i.indexrelid) END
        FROM pg_index i
        JOIN pg_class c ON c.oid = i.indexrelid
        LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.contype IN ('p', 'u')
        WHERE i.indrelid IN ('member_period_points'::regclass, 'team_period_points'::regclass,
                             'member_points_histogram'::regclass);
        FOR r IN SELECT * FROM bench_index_defs LOOP
            IF r.is_constraint THEN
                EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.tbl, r.name);
            ELSE
                EXECUTE format('DROP INDEX %I', r.name);
            END IF;
        END LOOP;
        RAISE NOTICE 'boards: dropped % indexes for the load', (SELECT count(*) FROM bench_index_defs);
    END IF;

    t0 := clock_timestamp();
    DELETE FROM member_points_histogram h WHERE h.organisation_id = org;
    DELETE FROM member_period_points m WHERE m.organisation_id = org;
    DELETE FROM team_period_points t WHERE t.organisation_id = org;
    FOR lo IN 1 .. n_members BY chunk LOOP
        hi := least(lo + chunk - 1, n_members);
        -- Same grouping as rebuild_boards(org): totals per period, period_start, dimension ('' =
        -- all) and member, reached_at = the latest entry; team and listed from the member now.
        INSERT INTO member_period_points
            (organisation_id, period, period_start, dimension, member_id, points, reached_at, team_id, listed)
        SELECT org, p.period, p.period_start, d.dimension, e.member_id, sum(e.points), max(e.created_at),
               m.team_id, m.deactivated_at IS NULL
        FROM ledger_entries e
        JOIN members m ON m.id = e.member_id
        CROSS JOIN LATERAL board_periods(e.created_at AT TIME ZONE tz) p
        CROSS JOIN LATERAL (SELECT '' AS dimension
                            UNION ALL
                            SELECT e.dimension WHERE e.dimension IS NOT NULL) d
        WHERE e.organisation_id = org
          AND e.member_id BETWEEN (pfx_m || lpad(to_hex(lo), 24, '0'))::uuid
                              AND (pfx_m || lpad(to_hex(hi), 24, '0'))::uuid
        GROUP BY p.period, p.period_start, d.dimension, e.member_id, m.team_id, m.deactivated_at;
        -- Teams by the team of each entry; a chunk holds whole teams and seeded entries carry
        -- their member's team, so no team's totals span two chunks.
        INSERT INTO team_period_points (organisation_id, period, period_start, dimension, team_id, points, reached_at)
        SELECT org, p.period, p.period_start, d.dimension, e.team_id, sum(e.points), max(e.created_at)
        FROM ledger_entries e
        CROSS JOIN LATERAL board_periods(e.created_at AT TIME ZONE tz) p
        CROSS JOIN LATERAL (SELECT '' AS dimension
                            UNION ALL
                            SELECT e.dimension WHERE e.dimension IS NOT NULL) d
        WHERE e.organisation_id = org AND e.team_id IS NOT NULL
          AND e.member_id BETWEEN (pfx_m || lpad(to_hex(lo), 24, '0'))::uuid
                              AND (pfx_m || lpad(to_hex(hi), 24, '0'))::uuid
        GROUP BY p.period, p.period_start, d.dimension, e.team_id;
        IF (lo - 1) / chunk % 10 = 0 OR hi = n_members THEN
            RAISE NOTICE 'boards: members %-% of % (% so far)', lo, hi, n_members, clock_timestamp() - t0;
        END IF;
    END LOOP;
    ANALYZE member_period_points, team_period_points;
    INSERT INTO member_points_histogram (organisation_id, period, period_start, dimension, points, members)
    SELECT org, m.period, m.period_start, m.dimension, m.points, count(*)
    FROM member_period_points m
    WHERE m.organisation_id = org AND m.listed
    GROUP BY m.period, m.period_start, m.dimension, m.points;
    RAISE NOTICE 'boards: totals and histograms in %', clock_timestamp() - t0;

    IF drop_idx THEN
        t0 := clock_timestamp();
        FOR r IN SELECT * FROM bench_index_defs ORDER BY is_constraint DESC, name LOOP
            EXECUTE r.def;
            RAISE NOTICE 'boards: rebuilt % (% so far)', r.name, clock_timestamp() - t0;
        END LOOP;
    END IF;

    INSERT INTO bench.seeds (slug, version, organisation_id, members, teams, entries, details)
    VALUES (v_slug, current_setting('bench.version', true), org, n_members, n_teams, n_entries,
            jsonb_build_object(
                'member_period_points', (SELECT count(*) FROM member_period_points m WHERE m.organisation_id = org),
                'team_period_points', (SELECT count(*) FROM team_period_points t WHERE t.organisation_id = org),
                'member_points_histogram', (SELECT count(*) FROM member_points_histogram h WHERE h.organisation_id = org),
                'deactivated_members', (SELECT count(*) FROM members m WHERE m.organisation_id = org AND m.deactivated_at IS NOT NULL),
                'first_entry', (SELECT min(e.created_at) FROM ledger_entries e WHERE e.organisation_id = org),
                'last_entry', (SELECT max(e.created_at) FROM ledger_entries e WHERE e.organisation_id = org)))
    ON CONFLICT (slug) DO UPDATE SET version = EXCLUDED.version, organisation_id = EXCLUDED.organisation_id,
        members = EXCLUDED.members, teams = EXCLUDED.teams, entries = EXCLUDED.entries,
        seeded_at = now(), seconds = NULL, details = EXCLUDED.details;
END
$seed$;
