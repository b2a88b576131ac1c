-- Benchmark seeding: one organisation of :members members in :teams teams, with the activity of
-- the last 730 days (recognitions with reactions, wins with their timeline, contributors and
-- comments, the badges it earned, every team's KPIs) and the ledger entries it paid (about
-- :entries), and its leaderboards. Run by scripts/bench with
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
    pfx_r      text := substr(md5(v_slug || ':recognition'), 1, 8);
    pfx_i      text := substr(md5(v_slug || ':initiative'), 1, 8);
    pfx_e      text := substr(md5(v_slug || ':event'), 1, 8);
    pfx_c      text := substr(md5(v_slug || ':comment'), 1, 8);
    pfx_k      text := substr(md5(v_slug || ':kpi'), 1, 8);
    n_slots    bigint;
    admin_id   uuid;
    pr_sub     integer;
    pr_app     integer;
    pr_imp     integer;
    pr_mea     integer;
    pr_con     integer;
    pay_on_approval boolean;
    b          record;
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
    IF per_team < 16 THEN
        RAISE EXCEPTION 'teams of at least 16 members, please (% members in % teams)', n_members, n_teams;
    END IF;
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

    -- Activity: what members did, and the ledger entries it paid, as the server writes them.
    -- Activity is skewed. Each member has a weight u^-1/2 capped at 30 (Pareto-like), times
    -- 0.15 for one member in five (occasional users); "slots" are handed out in proportion to
    -- weight, adding up to exactly n_slots, and spread evenly with jitter over the last 730
    -- days. A slot is a recognition the member received (62%) or a win (initiative) the member
    -- submitted (38%). A win then goes its way: declined (8%), still awaiting review (5%),
    -- approved (35%), implemented (25%) or measured (27%), each step some days after the last
    -- and only if that is in the past; 30% have a contributor (one in five from another team).
    -- Points are the organisation's point rules, paid when the server pays them (submission
    -- and contributor points on approval, for an organisation created now), with the win's
    -- dimension. Every slot's ledger entries therefore have their source rows, and a slot pays
    -- 1.81 entries on average, counting the badges below (measured at 2,000 members):
    -- n_slots = n_entries / 1.81, so that the ledger has about n_entries (its exact count is
    -- in bench.seeds.details).
    t0 := clock_timestamp();
    SELECT p.initiative_submitted, p.initiative_approved, p.initiative_implemented, p.initiative_measured,
           p.contributor, p.submission_points_on_approval
      INTO STRICT pr_sub, pr_app, pr_imp, pr_mea, pr_con, pay_on_approval
      FROM point_rules p WHERE p.organisation_id = org;
    SELECT m.id INTO STRICT admin_id FROM members m
    WHERE m.organisation_id = org AND m.role = 'admin' ORDER BY m.created_at LIMIT 1;
    n_slots := round(n_entries / 1.81);
    CREATE TEMP TABLE bench_activity ON COMMIT DROP AS
    SELECT k, sum(w) OVER (ORDER BY k) AS cum
    FROM (SELECT k, least(power(random(), -0.5), 30.0) * CASE WHEN random() < 0.2 THEN 0.15 ELSE 1 END AS w
          FROM generate_series(1, n_members) k) x;
    CREATE TEMP TABLE bench_counts ON COMMIT DROP AS
    SELECT k, (round(n_slots * cum / tot) - round(n_slots * coalesce(prev, 0) / tot))::integer AS n
    FROM (SELECT k, cum, lag(cum) OVER (ORDER BY k) AS prev FROM bench_activity) a,
         (SELECT max(cum) AS tot FROM bench_activity) s
    ORDER BY k;
    CREATE TEMP SEQUENCE bench_ledger_seq;
    CREATE TEMP SEQUENCE bench_slot_seq;
    -- One chunk's slots, with the members involved as numbers (k: the member, g: the giver or
    -- contributor) and every random draw the statements below need.
    CREATE TEMP TABLE bench_slots (
        sn bigint, k integer, tm integer, pos integer, at timestamptz, is_rec boolean,
        g integer, g_kind text, points integer, dim text, outcome double precision,
        approved_at timestamptz, declined_at timestamptz, implemented_at timestamptz,
        measured_at timestamptz, extra1 double precision, extra2 double precision
    ) ON COMMIT DROP;
    -- Drop the activity tables' plain indexes for a big load (kept: primary keys and unique
    -- constraints, which foreign keys need; ascending ids append to them); built again below.
    CREATE TEMP TABLE bench_activity_index_defs ON COMMIT DROP AS
    SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    WHERE drop_idx AND NOT i.indisprimary AND NOT i.indisunique
      AND i.indrelid IN ('recognitions'::regclass, 'recognition_recipients'::regclass,
                         'recognition_reactions'::regclass, 'initiatives'::regclass,
                         'initiative_events'::regclass, 'initiative_comments'::regclass,
                         'initiative_contributors'::regclass, 'member_badges'::regclass,
                         'team_kpis'::regclass);
    FOR r IN SELECT * FROM bench_activity_index_defs LOOP
        EXECUTE format('DROP INDEX %I', r.name);
    END LOOP;

    FOR lo IN 1 .. n_members BY chunk LOOP
        hi := least(lo + chunk - 1, n_members);
        TRUNCATE bench_slots;
        INSERT INTO bench_slots
        SELECT nextval('bench_slot_seq'), s.k, s.tm, s.pos, s.at, s.is_rec,
               -- recognitions: a quarter from the team's lead, most from a teammate, 8% from
               -- another team; wins: the contributor, if any (a teammate, or another team's)
               CASE WHEN s.is_rec THEN
                        CASE WHEN x.u6 < 0.25 AND s.pos <> 0 THEN (s.tm - 1) * per_team + 1
                             WHEN x.u6 < 0.92 OR n_teams = 1
                                 THEN (s.tm - 1) * per_team + (s.pos + 1 + floor(x.u7 * (per_team - 1))::int) % per_team + 1
                             ELSE ((s.tm + floor(x.u7 * (n_teams - 1))::int) % n_teams) * per_team + s.pos + 1 END
                    WHEN x.u6 < 0.24 THEN (s.tm - 1) * per_team + (s.pos + 1 + floor(x.u7 * (per_team - 1))::int) % per_team + 1
                    WHEN x.u6 < 0.30 AND n_teams > 1 THEN (s.tm % n_teams) * per_team + s.pos + 1 END,
               NULL,
               CASE WHEN NOT s.is_rec THEN NULL
                    WHEN x.u6 < 0.25 AND s.pos <> 0 THEN 10 + 5 * floor(x.u2 * 9)::int   -- a lead: 10-50
                    ELSE 5 + 5 * floor(x.u2 * 5)::int END,                                -- a peer: 5-25
               (ARRAY['trust','problem_solving','time_and_effort','expectations','personalisation','empathy'])
                   [CASE WHEN NOT s.is_rec THEN 1 + floor(x.u4 * 6)::int
                         WHEN x.u4 < 0.75 THEN 1 + floor(x.u4 / 0.125)::int END],
               x.u3,
               NULL, NULL, NULL, NULL, x.u8, x.u9
        FROM (SELECT c.k, (c.k - 1) / per_team + 1 AS tm, (c.k - 1) % per_team AS pos, j,
                     now() - interval '730 days' * ((j - 1 + random()) / c.n) AS at,
                     random() < 0.62 AS is_rec
              FROM bench_counts c CROSS JOIN LATERAL generate_series(1, c.n) j
              WHERE c.k BETWEEN lo AND hi) s
        -- (j IS NOT NULL makes the subquery depend on the row: fresh random numbers each time.)
        CROSS JOIN LATERAL (SELECT random() AS u2, random() AS u3, random() AS u4, random() AS u6,
                                   random() AS u7, random() AS u8, random() AS u9
                            WHERE s.j IS NOT NULL OFFSET 0) x;
        UPDATE bench_slots SET g_kind = CASE WHEN (g - 1) % per_team = 0 THEN 'lead' ELSE 'peer' END
        WHERE is_rec;
        -- A win's steps: each some days after the last, and only if that is in the past.
        UPDATE bench_slots SET
            declined_at = CASE WHEN outcome < 0.08 THEN at + interval '1 day' * (1 + 6 * extra1) END,
            approved_at = CASE WHEN outcome >= 0.13 THEN at + interval '1 day' * (1 + 6 * extra1) END
        WHERE NOT is_rec;
        UPDATE bench_slots SET
            implemented_at = CASE WHEN outcome >= 0.48 THEN approved_at + interval '1 day' * (5 + 25 * extra2) END,
            measured_at = CASE WHEN outcome >= 0.73 THEN approved_at + interval '1 day' * (5 + 25 * extra2)
                                                        + interval '1 day' * (14 + 30 * extra1) END
        WHERE NOT is_rec;
        UPDATE bench_slots SET
            declined_at = CASE WHEN declined_at < now() THEN declined_at END,
            approved_at = CASE WHEN approved_at < now() THEN approved_at END,
            implemented_at = CASE WHEN implemented_at < now() THEN implemented_at END,
            measured_at = CASE WHEN measured_at < now() THEN measured_at END
        WHERE NOT is_rec;

        -- Recognitions, one recipient each, with reactions (0.65 per recognition on average).
        INSERT INTO recognitions (organisation_id, id, giver_id, kind, message, points_each, dimension,
                                  created_at, giving_period_start)
        SELECT org, (pfx_r || lpad(to_hex(s.sn), 24, '0'))::uuid, (pfx_m || lpad(to_hex(s.g), 24, '0'))::uuid,
               s.g_kind,
               (ARRAY['Thanks for taking that upset caller and turning the call around.',
                      'You stayed late so the customer had her order before the weekend. Thank you!',
                      'Calm, patient and kind at the till today: that is how we want people to feel.',
                      'Your fix to the returns form saves our customers a wait every single day.',
                      'You followed up before the customer had to chase us. Great work.',
                      'Thanks for covering my shift so the store could stay open late.',
                      'One agent, one case, start to finish: customers notice, and so do I.',
                      'Brilliant idea for the arrival window; customers ask about it every day.'])[1 + s.sn % 8],
               s.points, s.dim, s.at, date_trunc('month', s.at AT TIME ZONE tz)::date
        FROM bench_slots s WHERE s.is_rec ORDER BY s.sn;
        INSERT INTO recognition_recipients (organisation_id, recognition_id, member_id, team_id, created_at)
        SELECT org, (pfx_r || lpad(to_hex(s.sn), 24, '0'))::uuid, (pfx_m || lpad(to_hex(s.k), 24, '0'))::uuid,
               (pfx_t || lpad(to_hex(s.tm), 24, '0'))::uuid, s.at
        FROM bench_slots s WHERE s.is_rec ORDER BY s.sn;
        INSERT INTO recognition_reactions (organisation_id, recognition_id, member_id, kind, created_at)
        SELECT org, (pfx_r || lpad(to_hex(s.sn), 24, '0'))::uuid,
               (pfx_m || lpad(to_hex((s.tm - 1) * per_team + (s.pos + 1 + 7 * i) % per_team + 1), 24, '0'))::uuid,
               (ARRAY['applause','heart','celebrate','insightful','star'])[1 + (s.sn + i) % 5],
               s.at + interval '1 hour' * i
        FROM bench_slots s CROSS JOIN generate_series(1, 2) i
        WHERE s.is_rec AND per_team > 2 * 7 AND i <= CASE WHEN s.extra1 < 0.35 THEN 1 WHEN s.extra1 < 0.50 THEN 2 ELSE 0 END
        ORDER BY s.sn, i;

        -- Wins, their timeline (events), contributors and comments (0.65 per win on average).
        INSERT INTO initiatives (organisation_id, id, author_id, team_id, title, description, dimension, channel,
                                 journey_stage, customer_value, organisation_value, ease, status,
                                 outcome_kpi, outcome_unit, outcome_baseline, outcome_result, outcome_measured_at,
                                 created_at, updated_at)
        SELECT org, (pfx_i || lpad(to_hex(s.sn), 24, '0'))::uuid, (pfx_m || lpad(to_hex(s.k), 24, '0'))::uuid,
               (pfx_t || lpad(to_hex(s.tm), 24, '0'))::uuid,
               format('Win %s: %s', s.sn, (ARRAY['Called ahead before late deliveries', 'Quiet hour for sensory-sensitive shoppers',
                      'Arrival windows by text', 'One agent per case', 'Return label in the app', 'Photo help at the till'])[1 + s.sn % 6]),
               'What we changed for the customer, and why it matters to them.',
               s.dim,
               (ARRAY['phone','in_person','email','chat','social','app','web','mail'])[1 + s.sn % 8],
               (ARRAY['before','during','after'])[1 + s.sn % 3],
               1 + s.sn % 5, 1 + (s.sn / 5) % 5, 1 + (s.sn / 25) % 5,
               CASE WHEN s.measured_at IS NOT NULL THEN 'measured' WHEN s.implemented_at IS NOT NULL THEN 'implemented'
                    WHEN s.approved_at IS NOT NULL THEN 'approved' WHEN s.declined_at IS NOT NULL THEN 'declined'
                    ELSE 'submitted' END,
               CASE WHEN s.measured_at IS NOT NULL THEN 'csat' END,
               CASE WHEN s.measured_at IS NOT NULL THEN '%' END,
               CASE WHEN s.measured_at IS NOT NULL THEN round((70 + 10 * s.extra1)::numeric, 1) END,
               CASE WHEN s.measured_at IS NOT NULL THEN round((71 + 10 * s.extra1 + 8 * s.extra2)::numeric, 1) END,
               s.measured_at, s.at,
               coalesce(s.measured_at, s.implemented_at, s.approved_at, s.declined_at, s.at)
        FROM bench_slots s WHERE NOT s.is_rec ORDER BY s.sn;
        INSERT INTO initiative_contributors (organisation_id, initiative_id, member_id)
        SELECT org, (pfx_i || lpad(to_hex(s.sn), 24, '0'))::uuid, (pfx_m || lpad(to_hex(s.g), 24, '0'))::uuid
        FROM bench_slots s WHERE NOT s.is_rec AND s.g IS NOT NULL ORDER BY s.sn;
        -- Steps: submitted by the author, approved or declined by the team's lead (the admin
        -- for a lead's own win), implemented and measured by the author.
        INSERT INTO initiative_events (organisation_id, id, initiative_id, actor_id, kind, from_status, to_status, created_at)
        SELECT org, (pfx_e || lpad(to_hex(s.sn * 4 + e.n), 24, '0'))::uuid, (pfx_i || lpad(to_hex(s.sn), 24, '0'))::uuid,
               CASE WHEN e.kind IN ('approved', 'declined') THEN
                        CASE WHEN s.pos = 0 THEN admin_id ELSE (pfx_m || lpad(to_hex((s.tm - 1) * per_team + 1), 24, '0'))::uuid END
                    ELSE (pfx_m || lpad(to_hex(s.k), 24, '0'))::uuid END,
               e.kind, e.from_status, e.kind, e.at
        FROM bench_slots s
        CROSS JOIN LATERAL (VALUES (0, 'submitted', NULL, s.at), (1, 'declined', 'submitted', s.declined_at),
                                   (1, 'approved', 'submitted', s.approved_at), (2, 'implemented', 'approved', s.implemented_at),
                                   (3, 'measured', 'implemented', s.measured_at)) e(n, kind, from_status, at)
        WHERE NOT s.is_rec AND e.at IS NOT NULL
        ORDER BY s.sn, e.n;
        INSERT INTO initiative_comments (organisation_id, id, initiative_id, author_id, body, created_at)
        SELECT org, (pfx_c || lpad(to_hex(s.sn * 2 + i), 24, '0'))::uuid, (pfx_i || lpad(to_hex(s.sn), 24, '0'))::uuid,
               (pfx_m || lpad(to_hex((s.tm - 1) * per_team + (s.pos + 3 * i) % per_team + 1), 24, '0'))::uuid,
               (ARRAY['Love this. Could the other stores do it too?', 'We tried something similar on the phones: happy to help.',
                      'Customers mentioned it in the survey this week!', 'How do we measure the effect?'])[1 + (s.sn + i) % 4],
               s.at + interval '12 hours' * i
        FROM bench_slots s CROSS JOIN generate_series(1, 2) i
        WHERE NOT s.is_rec AND i <= CASE WHEN s.extra2 < 0.35 THEN 1 WHEN s.extra2 < 0.50 THEN 2 ELSE 0 END
        ORDER BY s.sn, i;

        -- The ledger: what each of these paid, to whom, when; entries carry the earner's team.
        INSERT INTO ledger_entries (organisation_id, id, member_id, team_id, points, reason, source_type, source_id,
                                    dimension, created_at)
        SELECT org, (pfx_l || lpad(to_hex(nextval('bench_ledger_seq')), 24, '0'))::uuid,
               (pfx_m || lpad(to_hex(p.member), 24, '0'))::uuid,
               (pfx_t || lpad(to_hex((p.member - 1) / per_team + 1), 24, '0'))::uuid,
               p.points, p.reason, p.source_type, p.source_id, s.dim, p.at
        FROM bench_slots s
        CROSS JOIN LATERAL (VALUES
            (0, s.k, s.points, 'recognition_received', 'recognition', (pfx_r || lpad(to_hex(s.sn), 24, '0'))::uuid,
             CASE WHEN s.is_rec THEN s.at END),
            (1, s.k, pr_sub, 'initiative_submitted', 'initiative', (pfx_i || lpad(to_hex(s.sn), 24, '0'))::uuid,
             CASE WHEN NOT s.is_rec THEN CASE WHEN pay_on_approval THEN s.approved_at ELSE s.at END END),
            (2, s.k, pr_app, 'initiative_approved', 'initiative', (pfx_i || lpad(to_hex(s.sn), 24, '0'))::uuid,
             CASE WHEN NOT s.is_rec THEN s.approved_at END),
            (3, s.g, pr_con, 'initiative_contribution', 'initiative', (pfx_i || lpad(to_hex(s.sn), 24, '0'))::uuid,
             CASE WHEN NOT s.is_rec THEN s.approved_at END),
            (4, s.k, pr_imp, 'initiative_implemented', 'initiative', (pfx_i || lpad(to_hex(s.sn), 24, '0'))::uuid,
             CASE WHEN NOT s.is_rec THEN s.implemented_at END),
            (5, s.k, pr_mea, 'initiative_measured', 'initiative', (pfx_i || lpad(to_hex(s.sn), 24, '0'))::uuid,
             CASE WHEN NOT s.is_rec THEN s.measured_at END)
        ) p(n, member, points, reason, source_type, source_id, at)
        WHERE p.at IS NOT NULL AND p.member IS NOT NULL AND p.points > 0
        ORDER BY s.sn, p.n;
        IF (lo - 1) / chunk % 10 = 0 OR hi = n_members THEN
            RAISE NOTICE 'activity: members %-% of % (% so far)', lo, hi, n_members, clock_timestamp() - t0;
        END IF;
    END LOOP;
    ANALYZE recognitions, recognition_recipients, initiatives, initiative_events, initiative_contributors;

    -- Badges, awarded by the server's rules (src/gamification/badges.rs) at the moment each
    -- member met them, with a ledger entry when the badge carries points.
    CREATE TEMP TABLE bench_awards (badge uuid, member uuid, at timestamptz, points integer) ON COMMIT DROP;
    FOR b IN SELECT * FROM badges WHERE organisation_id = org AND active AND criterion <> 'challenge' LOOP
        IF b.criterion IN ('initiatives_approved', 'initiatives_in_one_dimension', 'initiatives_measured') THEN
            INSERT INTO bench_awards
            SELECT b.id, author_id, min(at), b.points FROM (
                SELECT i.author_id, e.created_at AS at,
                       row_number() OVER (PARTITION BY i.author_id,
                                          CASE WHEN b.criterion = 'initiatives_in_one_dimension' THEN i.dimension END
                                          ORDER BY e.created_at) AS nth
                FROM initiative_events e
                JOIN initiatives i ON i.organisation_id = e.organisation_id AND i.id = e.initiative_id
                WHERE e.organisation_id = org
                  AND e.kind = CASE WHEN b.criterion = 'initiatives_measured' THEN 'measured' ELSE 'approved' END
                  AND (b.dimension IS NULL OR i.dimension = b.dimension)) x
            WHERE x.nth = b.threshold GROUP BY author_id;
        ELSIF b.criterion IN ('recognitions_received', 'recognitions_given') THEN
            INSERT INTO bench_awards
            SELECT b.id, member_id, at, b.points FROM (
                SELECT rr.member_id, rr.created_at AS at,
                       row_number() OVER (PARTITION BY rr.member_id ORDER BY rr.created_at) AS nth
                FROM recognition_recipients rr
                WHERE rr.organisation_id = org AND b.criterion = 'recognitions_received'
                UNION ALL
                SELECT rc.giver_id, rc.created_at,
                       row_number() OVER (PARTITION BY rc.giver_id ORDER BY rc.created_at)
                FROM recognitions rc
                WHERE rc.organisation_id = org AND b.criterion = 'recognitions_given') x
            WHERE x.nth = b.threshold;
        ELSIF b.criterion = 'cross_team_contributions' THEN
            INSERT INTO bench_awards
            SELECT b.id, member_id, at, b.points FROM (
                SELECT c.member_id, e.created_at AS at,
                       row_number() OVER (PARTITION BY c.member_id ORDER BY e.created_at) AS nth
                FROM initiative_contributors c
                JOIN initiatives i ON i.organisation_id = c.organisation_id AND i.id = c.initiative_id
                JOIN members m ON m.organisation_id = c.organisation_id AND m.id = c.member_id
                JOIN initiative_events e ON e.organisation_id = i.organisation_id AND e.initiative_id = i.id
                                        AND e.kind = 'approved'
                WHERE c.organisation_id = org AND i.team_id IS DISTINCT FROM m.team_id) x
            WHERE x.nth = b.threshold;
        ELSIF b.criterion = 'weekly_streak' THEN
            -- Active weeks: approvals of one's wins and recognitions given (src/gamification/
            -- streaks.rs); awarded at the first activity of the week that makes the run long enough.
            INSERT INTO bench_awards
            SELECT b.id, member_id, min(first_at), b.points FROM (
                SELECT member_id, first_at,
                       row_number() OVER (PARTITION BY member_id, week - 7 * wn ORDER BY week) AS run
                FROM (SELECT member_id, week, first_at, row_number() OVER (PARTITION BY member_id ORDER BY week)::int AS wn
                      FROM (SELECT member_id, date_trunc('week', at AT TIME ZONE tz)::date AS week, min(at) AS first_at
                            FROM (SELECT i.author_id AS member_id, e.created_at AS at
                                  FROM initiative_events e
                                  JOIN initiatives i ON i.organisation_id = e.organisation_id AND i.id = e.initiative_id
                                  WHERE e.organisation_id = org AND e.kind = 'approved'
                                  UNION ALL
                                  SELECT rc.giver_id, rc.created_at FROM recognitions rc WHERE rc.organisation_id = org) a
                            GROUP BY 1, 2) w) x) y
            WHERE run = b.threshold GROUP BY member_id;
        ELSE
            RAISE NOTICE 'badges: % (criterion %) is not seeded', b.key, b.criterion;
        END IF;
    END LOOP;
    INSERT INTO member_badges (organisation_id, badge_id, member_id, awarded_at)
    SELECT org, a.badge, a.member, a.at FROM bench_awards a;
    INSERT INTO ledger_entries (organisation_id, id, member_id, team_id, points, reason, source_type, source_id, created_at)
    SELECT org, (pfx_l || lpad(to_hex(nextval('bench_ledger_seq')), 24, '0'))::uuid, a.member, m.team_id,
           a.points, 'badge', 'badge', a.badge, a.at
    FROM bench_awards a JOIN members m ON m.organisation_id = org AND m.id = a.member
    WHERE a.points > 0
    ORDER BY a.at;
    RAISE NOTICE 'badges: % awarded (% with points)', (SELECT count(*) FROM bench_awards),
        (SELECT count(*) FROM bench_awards WHERE points > 0);

    -- KPIs: every team's csat, nps, ces and fcr for each of the 24 months before this one,
    -- recorded by its lead a few days after the month ended.
    INSERT INTO team_kpis (organisation_id, id, team_id, kpi, period_start, period_end, value, sample_size,
                           recorded_by, recorded_at)
    SELECT org, (pfx_k || lpad(to_hex((t - 1) * 100 + mo * 4 + q), 24, '0'))::uuid,
           (pfx_t || lpad(to_hex(t), 24, '0'))::uuid,
           (ARRAY['csat','nps','ces','fcr'])[q + 1],
           (ms - interval '1 month' * mo)::date, (ms - interval '1 month' * (mo - 1))::date,
           CASE q WHEN 0 THEN round((70 + 25 * random())::numeric, 1)
                  WHEN 1 THEN round((-20 + 90 * random())::numeric, 0)
                  WHEN 2 THEN round((1 + 6 * random())::numeric, 2)
                  ELSE round((0.5 + 0.45 * random())::numeric, 3) END,
           20 + floor(random() * 200)::int,
           (pfx_m || lpad(to_hex((t - 1) * per_team + 1), 24, '0'))::uuid,
           least((ms - interval '1 month' * (mo - 1) + interval '3 days') AT TIME ZONE tz, now())
    FROM (SELECT date_trunc('month', now() AT TIME ZONE tz)::date::timestamp AS ms) s
    CROSS JOIN generate_series(1, n_teams) t
    CROSS JOIN generate_series(1, 24) mo
    CROSS JOIN generate_series(0, 3) q
    ORDER BY t, mo, q;

    FOR r IN SELECT * FROM bench_activity_index_defs LOOP
        EXECUTE r.def;
    END LOOP;
    -- (The tables the badges read were analysed before them; ANALYZE takes a sample, so the
    -- badges' and KPIs' few rows more change nothing there.)
    ANALYZE ledger_entries, recognition_reactions, initiative_comments, member_badges, team_kpis;
    SELECT count(*) INTO n FROM ledger_entries e WHERE e.organisation_id = org;
    RAISE NOTICE 'activity: % ledger entries (% asked for), % recognitions, % wins, % badges, % KPI values in %', n, n_entries,
        (SELECT count(*) FROM recognitions x WHERE x.organisation_id = org),
        (SELECT count(*) FROM initiatives x WHERE x.organisation_id = org),
        (SELECT count(*) FROM member_badges x WHERE x.organisation_id = org),
        (SELECT count(*) FROM team_kpis x WHERE x.organisation_id = org), clock_timestamp() - t0;

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
                'ledger_entries', (SELECT count(*) FROM ledger_entries e WHERE e.organisation_id = org),
                'recognitions', (SELECT count(*) FROM recognitions x WHERE x.organisation_id = org),
                'recognition_reactions', (SELECT count(*) FROM recognition_reactions x WHERE x.organisation_id = org),
                'initiatives', (SELECT jsonb_object_agg(status, cnt) FROM (SELECT status, count(*) AS cnt FROM initiatives x
                                WHERE x.organisation_id = org GROUP BY status) y),
                'initiative_events', (SELECT count(*) FROM initiative_events x WHERE x.organisation_id = org),
                'initiative_contributors', (SELECT count(*) FROM initiative_contributors x WHERE x.organisation_id = org),
                'initiative_comments', (SELECT count(*) FROM initiative_comments x WHERE x.organisation_id = org),
                'member_badges', (SELECT count(*) FROM member_badges x WHERE x.organisation_id = org),
                'team_kpis', (SELECT count(*) FROM team_kpis x WHERE x.organisation_id = org),
                'first_entry', (SELECT min(e.created_at) FROM ledger_entries e WHERE e.organisation_id = org),
                'last_entry', (SELECT max(e.created_at) FROM ledger_entries e WHERE e.organisation_id = org)))
    ON CONFLICT (slug) DO UPDATE SET version = EXCLUDED.version, organisation_id = EXCLUDED.organisation_id,
        members = EXCLUDED.members, teams = EXCLUDED.teams, entries = EXCLUDED.entries,
        seeded_at = now(), seconds = NULL, details = EXCLUDED.details;
END
$seed$;
