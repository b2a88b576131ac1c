-- Ring detection's organisation: members in teams and their peer recognitions over a span of
-- days, with rings planted among them and decoys that must not be flagged. Shared by the test
-- (tests/api/rings.rs) and the benchmark (scripts/bench-rings), so that the figure and the
-- proof are about the same data.
--
-- Settings read (set_config, before this runs; the organisation exists):
--   rings.org           the organisation's id
--   rings.slug          its slug (emails are m<i>@<slug>.example)
--   rings.members       members to create (at least 1,000)
--   rings.teams         teams (at least 3 members each); member i is in team i % teams
--   rings.recognitions  recognitions in all, planted ones included
--   rings.days          the span of the noise and of the rings, ending at rings.end_at
--   rings.end_at        the newest recognition's time (RFC 3339)
-- Run it in a transaction as a superuser (the bulk load turns triggers off, see below), then
-- VACUUM ANALYZE recognitions and recognition_recipients.
--
-- Deterministic: every choice is hashint8extended of a row number (no random()), so a seed of
-- the same settings is the same seed. Recognition ids ascend with time.
--
-- The noise: the regular members give, skewed (member index floor(regular * u^1.5): low
-- indices give far more than high ones, the quietest a few times a quarter); a member at
-- offset 0 of a team (i < teams) is its team lead and gives kind 'lead' (a budget, not an
-- allowance), everyone else 'peer'; 80% of recipients are teammates, 20% anyone else; 5% of
-- recognitions have a second recipient, a teammate; 5-25 points each; times uniform over the
-- span. At 10,000 members and 1,000,000 recognitions over 730 days, a member gives about 4 a
-- month: some 60 points, within the default allowance of 100.
--
-- The special members (the last max(teams + 1, 26) indices, named by their role) give
-- nothing but what is planted, and receive noise like anyone:
--   rings, spread over the whole span, each edge every ~7.6 days (4 a month, 20 points) and
--   one "cover" recognition a month (20 points) to a random regular member: 80% of a ringer's
--   giving goes round the ring, "a ring that sends each other most of their allowance":
--     Ringer 1a <-> 1b (one team)           Ringer 2a <-> 2b (two teams)
--     Ringer 3a -> 3b -> 3c -> 3a            Ringer 4a -> 4b -> 4c -> 4d -> 4a
--   decoys, none of them a ring under the default thresholds (share 50%, 3 recognitions,
--   30 points):
--     Decoy once a <-> b     one recognition each way in the last 20 days (too few)
--     Decoy twice a <-> b    two each way in the last 20 days (too few)
--     Decoy one-way a -> b   a gives b 80%; b gives only cover (no way back)
--     Decoy five a -> b -> c -> d -> e -> a   a cycle of five (longer than 4: not searched)
--     Decoy lopsided a <-> b   b gives a 80% of its giving, a gives b 40% (below 50%)
--     Decoy small a <-> b    four each way of 5 points in the last 20 days: 20 points

DO $seed$
DECLARE
    org      uuid        := current_setting('rings.org')::uuid;
    v_slug   text        := current_setting('rings.slug');
    n        integer     := current_setting('rings.members')::integer;
    t        integer     := current_setting('rings.teams')::integer;
    total    bigint      := current_setting('rings.recognitions')::bigint;
    span     interval    := make_interval(days => current_setting('rings.days')::integer);
    end_at   timestamptz := current_setting('rings.end_at')::timestamptz;
    tz       text;
    pfx_t    text        := substr(md5(org::text || ':rings:team'), 1, 8);
    pfx_m    text        := substr(md5(org::text || ':rings:member'), 1, 8);
    pfx_r    text        := substr(md5(org::text || ':rings:recognition'), 1, 8);
    special  integer;
    regular  integer;
    planted  bigint;
BEGIN
    IF n < 1000 OR t < 1 OR n / t < 3 THEN
        RAISE EXCEPTION 'rings seed: at least 1,000 members and 3 per team';
    END IF;
    special := greatest(t + 1, 26);
    regular := n - special;
    SELECT time_zone INTO tz FROM organisations WHERE id = org;

    CREATE TEMP TABLE rings_team (i integer PRIMARY KEY, id uuid) ON COMMIT DROP;
    INSERT INTO rings_team
    SELECT i, (pfx_t || '-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid
    FROM generate_series(0, t - 1) i;
    INSERT INTO teams (organisation_id, id, name, created_at)
    SELECT org, id, 'Ring team ' || i, end_at - span - interval '1 day' FROM rings_team;

    -- The special members by role: slot s is member index n - 1 - s. Slots 0 and t share a
    -- team (indices n - 1 and n - 1 - t); the others take slots 1, 2, ... skipping t.
    CREATE TEMP TABLE rings_role (name text PRIMARY KEY, i integer) ON COMMIT DROP;
    INSERT INTO rings_role
    SELECT name, n - 1 - CASE WHEN code < 0 THEN t WHEN code >= t THEN code + 1 ELSE code END
    FROM (VALUES ('Ringer 1a', 0), ('Ringer 1b', -1), ('Ringer 2a', 1), ('Ringer 2b', 2),
                 ('Ringer 3a', 3), ('Ringer 3b', 4), ('Ringer 3c', 5),
                 ('Ringer 4a', 6), ('Ringer 4b', 7), ('Ringer 4c', 8), ('Ringer 4d', 9),
                 ('Decoy once a', 10), ('Decoy once b', 11),
                 ('Decoy twice a', 12), ('Decoy twice b', 13),
                 ('Decoy one-way a', 14), ('Decoy one-way b', 15),
                 ('Decoy five a', 16), ('Decoy five b', 17), ('Decoy five c', 18),
                 ('Decoy five d', 19), ('Decoy five e', 20),
                 ('Decoy lopsided a', 21), ('Decoy lopsided b', 22),
                 ('Decoy small a', 23), ('Decoy small b', 24)) AS r(name, code);

    CREATE TEMP TABLE rings_member (i integer PRIMARY KEY, id uuid, team uuid) ON COMMIT DROP;
    INSERT INTO rings_member
    SELECT i, (pfx_m || '-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid,
           (SELECT id FROM rings_team WHERE rings_team.i = m.i % t)
    FROM generate_series(0, n - 1) AS m(i);
    INSERT INTO members (organisation_id, id, email, display_name, role, team_id, created_at)
    SELECT org, m.id, format('m%s@%s.example', m.i, v_slug), coalesce(r.name, 'Member ' || m.i),
           CASE WHEN m.i < t THEN 'team_lead' ELSE 'employee' END, m.team,
           end_at - span - interval '1 day'
    FROM rings_member m LEFT JOIN rings_role r ON r.i = m.i ORDER BY m.i;

    -- What is planted: (giver, recipient or NULL for a random regular member, how many, over
    -- how many days before end_at, points each). d is the span in days.
    CREATE TEMP TABLE rings_plan (giver text, recipient text, k integer, days numeric, points integer)
        ON COMMIT DROP;
    INSERT INTO rings_plan
    SELECT g, r, round(48 * d / 365.0)::integer, d, 20
    FROM (VALUES ('Ringer 1a', 'Ringer 1b'), ('Ringer 1b', 'Ringer 1a'),
                 ('Ringer 2a', 'Ringer 2b'), ('Ringer 2b', 'Ringer 2a'),
                 ('Ringer 3a', 'Ringer 3b'), ('Ringer 3b', 'Ringer 3c'), ('Ringer 3c', 'Ringer 3a'),
                 ('Ringer 4a', 'Ringer 4b'), ('Ringer 4b', 'Ringer 4c'), ('Ringer 4c', 'Ringer 4d'),
                 ('Ringer 4d', 'Ringer 4a'),
                 ('Decoy one-way a', 'Decoy one-way b'),
                 ('Decoy five a', 'Decoy five b'), ('Decoy five b', 'Decoy five c'),
                 ('Decoy five c', 'Decoy five d'), ('Decoy five d', 'Decoy five e'),
                 ('Decoy five e', 'Decoy five a'),
                 ('Decoy lopsided b', 'Decoy lopsided a')) AS e(g, r),
         (SELECT extract(epoch FROM span) / 86400) AS s(d)
    UNION ALL
    SELECT name, NULL, greatest(1, round(12 * d / 365.0))::integer, d, 20
    FROM rings_role, (SELECT extract(epoch FROM span) / 86400) AS s(d)
    WHERE name LIKE 'Ringer %' OR name LIKE 'Decoy one-way %' OR name LIKE 'Decoy five %'
       OR name = 'Decoy lopsided b'
    UNION ALL
    SELECT 'Decoy lopsided a', 'Decoy lopsided b', round(24 * d / 365.0)::integer, d, 20
    FROM (SELECT extract(epoch FROM span) / 86400) AS s(d)
    UNION ALL
    SELECT 'Decoy lopsided a', NULL, round(36 * d / 365.0)::integer, d, 20
    FROM (SELECT extract(epoch FROM span) / 86400) AS s(d)
    UNION ALL
    SELECT g || ' a', g || ' b', k, 20, p FROM (VALUES ('Decoy once', 1, 20), ('Decoy twice', 2, 20),
                                                       ('Decoy small', 4, 5)) AS e(g, k, p)
    UNION ALL
    SELECT g || ' b', g || ' a', k, 20, p FROM (VALUES ('Decoy once', 1, 20), ('Decoy twice', 2, 20),
                                                       ('Decoy small', 4, 5)) AS e(g, k, p);

    -- One row per recognition to write: a number, its giver, recipients (member indices),
    -- kind, points and time. Planted first.
    CREATE TEMP TABLE rings_gen (k bigint, giver integer, r1 integer, r2 integer, kind text,
                                 points integer, at timestamptz) ON COMMIT DROP;
    INSERT INTO rings_gen
    SELECT row_number() OVER (ORDER BY g.i, r.i NULLS LAST, j), g.i,
           coalesce(r.i, (hashint8extended(g.i * 1000 + j, 11) & 2147483647)::integer % regular),
           NULL, 'peer', p.points,
           end_at - make_interval(secs => (j + 0.5) * p.days * 86400 / p.k)
    FROM rings_plan p
    JOIN rings_role g ON g.name = p.giver
    LEFT JOIN rings_role r ON r.name = p.recipient
    CROSS JOIN generate_series(0, p.k - 1) j;
    SELECT count(*) INTO planted FROM rings_gen;

    -- The noise. u1..u6 are uniform in [0, 1) from the row number.
    INSERT INTO rings_gen
    SELECT planted + k, g,
           CASE WHEN u2 < 0.8 THEN (g % t) + ((g / t + d1) % size) * t
                ELSE (g + 1 + floor(u3 * (n - 1))::integer) % n END,
           CASE WHEN u4 < 0.05 THEN (g % t) + ((g / t + d2) % size) * t END,
           CASE WHEN g < t THEN 'lead' ELSE 'peer' END,
           5 + 5 * floor(u5 * 5)::integer,
           end_at - u6 * span
    FROM (
        SELECT k, g, u2, u3, u4, u5, u6, size,
               1 + floor(u3 * (size - 1))::integer AS d1,
               -- A second teammate, never the giver nor the first.
               1 + (floor(u3 * (size - 1))::integer + floor(u4 * 100 * (size - 2))::integer % (size - 2) + 1)
                   % (size - 1) AS d2
        FROM (
            SELECT k, g, u2, u3, u4, u5, u6, (n - 1 - g % t) / t + 1 AS size
            FROM (
                SELECT k, floor(regular * power(u1, 1.5))::integer AS g, u2, u3, u4, u5, u6
                FROM (
                    SELECT k,
                           (hashint8extended(k, 1) & 2147483647) / 2147483648.0::float8 AS u1,
                           (hashint8extended(k, 2) & 2147483647) / 2147483648.0::float8 AS u2,
                           (hashint8extended(k, 3) & 2147483647) / 2147483648.0::float8 AS u3,
                           (hashint8extended(k, 4) & 2147483647) / 2147483648.0::float8 AS u4,
                           (hashint8extended(k, 5) & 2147483647) / 2147483648.0::float8 AS u5,
                           (hashint8extended(k, 6) & 2147483647) / 2147483648.0::float8 AS u6
                    FROM generate_series(1, total - planted) k
                ) u
            ) g
        ) s
    ) x;

    -- Numbered in time order, so ids ascend with time as they roughly do in use, and every
    -- index on (organisation, time) or id is appended to rather than split.
    CREATE TEMP TABLE rings_rows ON COMMIT DROP AS
    SELECT row_number() OVER (ORDER BY at, giver, r1) AS k, giver, r1, r2, kind, points, at
    FROM rings_gen;

    -- The bulk load runs without triggers and foreign-key checks (session_replication_role =
    -- replica, for these two statements; a superuser's): the only triggers on these tables
    -- feed running challenges, which this organisation has none of, and every reference is to
    -- a row written above.
    PERFORM set_config('session_replication_role', 'replica', true);
    INSERT INTO recognitions (organisation_id, id, giver_id, kind, message, points_each, created_at,
                              giving_period_start)
    SELECT org, (pfx_r || '-0000-4000-8000-' || lpad(to_hex(g.k), 12, '0'))::uuid, m.id, g.kind,
           'Thanks for the help with that customer', g.points, g.at,
           date_trunc('month', g.at AT TIME ZONE tz)::date
    FROM rings_rows g JOIN rings_member m ON m.i = g.giver
    ORDER BY g.k;

    INSERT INTO recognition_recipients (organisation_id, recognition_id, member_id, team_id, created_at)
    SELECT org, (pfx_r || '-0000-4000-8000-' || lpad(to_hex(g.k), 12, '0'))::uuid, m.id, m.team, g.at
    FROM rings_rows g
    CROSS JOIN LATERAL (VALUES (g.r1), (g.r2)) AS r(i)
    JOIN rings_member m ON m.i = r.i
    ORDER BY g.k, m.id;
    PERFORM set_config('session_replication_role', 'origin', true);

    RAISE NOTICE 'rings seed: % members in % teams, % recognitions (% planted)', n, t, total, planted;
END
$seed$;
