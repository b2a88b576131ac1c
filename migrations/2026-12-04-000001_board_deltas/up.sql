-- No row that every point must update.
--
-- Until now the ledger's trigger updated, in each writer's transaction, the board histogram's
-- rows (shared by every member with the same total: the low totals are shared by thousands)
-- and the team rows (shared by every member of a team), and held their locks until commit, so
-- concurrent recognitions queued behind each other on a few hot rows. Now the trigger updates
-- only the rows of the members it pays (theirs alone) and appends its changes to the histogram
-- and the team totals to two queues (inserts only: nothing to wait for). `fold_boards()`,
-- called by every server process in the background, moves the queues into the totals in
-- batches, one process at a time. Reads add the queue to the totals (`board_histogram`,
-- `board_team_points`), so a board is exact at every moment, folded or not.

CREATE TABLE member_points_histogram_pending (
    organisation_id uuid NOT NULL,
    period          text NOT NULL,
    period_start    date NOT NULL,
    dimension       text NOT NULL,
    points          bigint NOT NULL,
    members         integer NOT NULL
);
CREATE INDEX member_points_histogram_pending_board_idx
    ON member_points_histogram_pending (organisation_id, period, period_start, dimension);

CREATE TABLE team_period_points_pending (
    organisation_id uuid NOT NULL,
    period          text NOT NULL,
    period_start    date NOT NULL,
    dimension       text NOT NULL,
    team_id         uuid NOT NULL,
    points          bigint NOT NULL,
    reached_at      timestamptz NOT NULL
);
CREATE INDEX team_period_points_pending_board_idx
    ON team_period_points_pending (organisation_id, period, period_start, dimension);

-- Queue tables churn: vacuum them often, so that their scans stay short.
ALTER TABLE member_points_histogram_pending SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);
ALTER TABLE team_period_points_pending SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);

-- One statement, no temporary table: member rows in key order (the only locks it takes on
-- rows another writer may want), then two appends.
CREATE OR REPLACE FUNCTION ledger_entries_to_boards() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH deltas AS MATERIALIZED (
        SELECT n.organisation_id, p.period, p.period_start, d.dimension, n.member_id, n.team_id,
               n.points, n.created_at AS at
        FROM new_entries n
        JOIN organisations o ON o.id = n.organisation_id
        CROSS JOIN LATERAL board_periods(n.created_at AT TIME ZONE o.time_zone) p
        CROSS JOIN LATERAL (SELECT '' AS dimension
                            UNION ALL
                            SELECT n.dimension WHERE n.dimension IS NOT NULL) d
    ),
    delta AS (
        SELECT organisation_id, period, period_start, dimension, member_id,
               sum(points) AS points, max(at) AS at
        FROM deltas
        GROUP BY 1, 2, 3, 4, 5
    ),
    upserted AS (
        INSERT INTO member_period_points AS m
            (organisation_id, period, period_start, dimension, member_id, points, reached_at, team_id, listed)
        SELECT d.organisation_id, d.period, d.period_start, d.dimension, d.member_id, d.points, d.at,
               mem.team_id, mem.deactivated_at IS NULL
        FROM delta d
        JOIN members mem ON mem.id = d.member_id
        ORDER BY d.organisation_id, d.period, d.period_start, d.dimension, d.member_id
        ON CONFLICT (organisation_id, period, period_start, dimension, member_id)
        DO UPDATE SET points = m.points + EXCLUDED.points, reached_at = EXCLUDED.reached_at
        RETURNING m.organisation_id, m.period, m.period_start, m.dimension, m.member_id,
                  m.points, m.listed, (m.xmax = 0) AS inserted
    ),
    moves AS (
        -- A member's total moved from old to new: one fewer at old, one more at new.
        SELECT u.organisation_id, u.period, u.period_start, u.dimension, u.points - d.points AS points, -1 AS change
        FROM upserted u JOIN delta d USING (organisation_id, period, period_start, dimension, member_id)
        WHERE u.listed AND NOT u.inserted
        UNION ALL
        SELECT u.organisation_id, u.period, u.period_start, u.dimension, u.points, 1
        FROM upserted u
        WHERE u.listed
    ),
    histogram AS (
        INSERT INTO member_points_histogram_pending (organisation_id, period, period_start, dimension, points, members)
        SELECT organisation_id, period, period_start, dimension, points, sum(change)
        FROM moves
        GROUP BY 1, 2, 3, 4, 5
        HAVING sum(change) <> 0
    )
    INSERT INTO team_period_points_pending (organisation_id, period, period_start, dimension, team_id, points, reached_at)
    SELECT organisation_id, period, period_start, dimension, team_id, sum(points), max(at)
    FROM deltas
    WHERE team_id IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5;
    RETURN NULL;
END $$;

-- Move the queues into the totals. One process at a time (the others skip: there is nothing
-- left for them); rows committed while it runs wait for the next fold, and a fold deletes only
-- the rows it read, so nothing is lost or counted twice. Answers the organisations folded.
CREATE FUNCTION fold_boards() RETURNS SETOF uuid LANGUAGE plpgsql AS $$
BEGIN
    -- 'frontline boards' as a bigint: one key, whatever the organisation.
    IF NOT pg_try_advisory_xact_lock(7309459463402090339) THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH taken AS (
        DELETE FROM member_points_histogram_pending RETURNING *
    ),
    folded AS (
        INSERT INTO member_points_histogram AS h (organisation_id, period, period_start, dimension, points, members)
        SELECT organisation_id, period, period_start, dimension, points, sum(members)
        FROM taken
        GROUP BY 1, 2, 3, 4, 5
        HAVING sum(members) <> 0
        ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (organisation_id, period, period_start, dimension, points)
        DO UPDATE SET members = h.members + EXCLUDED.members
        RETURNING h.organisation_id
    ),
    team_taken AS (
        DELETE FROM team_period_points_pending RETURNING *
    ),
    team_folded AS (
        INSERT INTO team_period_points AS t (organisation_id, period, period_start, dimension, team_id, points, reached_at)
        SELECT organisation_id, period, period_start, dimension, team_id, sum(points), max(reached_at)
        FROM team_taken
        GROUP BY 1, 2, 3, 4, 5
        ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (organisation_id, period, period_start, dimension, team_id)
        DO UPDATE SET points = t.points + EXCLUDED.points,
                      reached_at = greatest(t.reached_at, EXCLUDED.reached_at)
        RETURNING t.organisation_id
    )
    SELECT organisation_id FROM folded
    UNION
    SELECT organisation_id FROM team_folded;
END $$;

-- A board's histogram as readers see it: the totals plus what is queued.
CREATE FUNCTION board_histogram(org uuid, board_period text, board_start date, board_dimension text)
RETURNS TABLE (points bigint, members bigint) LANGUAGE sql STABLE AS $$
    SELECT points, sum(members)::bigint
    FROM (SELECT points, members FROM member_points_histogram
          WHERE organisation_id = org AND period = board_period AND period_start = board_start
            AND dimension = board_dimension
          UNION ALL
          SELECT points, members FROM member_points_histogram_pending
          WHERE organisation_id = org AND period = board_period AND period_start = board_start
            AND dimension = board_dimension) h
    GROUP BY points
    HAVING sum(members) > 0
$$;

-- A board's team totals as readers see them: the totals plus what is queued.
CREATE FUNCTION board_team_points(org uuid, board_period text, board_start date, board_dimension text)
RETURNS TABLE (team_id uuid, points bigint, reached_at timestamptz) LANGUAGE sql STABLE AS $$
    SELECT team_id, sum(points)::bigint, max(reached_at)
    FROM (SELECT team_id, points, reached_at FROM team_period_points
          WHERE organisation_id = org AND period = board_period AND period_start = board_start
            AND dimension = board_dimension
          UNION ALL
          SELECT team_id, points, reached_at FROM team_period_points_pending
          WHERE organisation_id = org AND period = board_period AND period_start = board_start
            AND dimension = board_dimension) t
    GROUP BY team_id
$$;

-- A rebuild starts from the ledger: what was queued is in it already.
CREATE OR REPLACE FUNCTION rebuild_boards(org uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM member_points_histogram_pending WHERE organisation_id = org;
    DELETE FROM team_period_points_pending WHERE organisation_id = org;
    DELETE FROM member_points_histogram WHERE organisation_id = org;
    DELETE FROM member_period_points WHERE organisation_id = org;
    DELETE FROM team_period_points WHERE organisation_id = org;

    CREATE TEMP TABLE rebuild_deltas ON COMMIT DROP AS
    SELECT e.member_id, e.team_id, p.period, p.period_start, d.dimension, e.points, e.created_at
    FROM ledger_entries e
    JOIN organisations o ON o.id = e.organisation_id
    CROSS JOIN LATERAL board_periods(e.created_at AT TIME ZONE o.time_zone) p
    CROSS JOIN LATERAL (SELECT '' AS dimension
                        UNION ALL
                        SELECT e.dimension WHERE e.dimension IS NOT NULL) d
    WHERE e.organisation_id = org;

    INSERT INTO member_period_points
        (organisation_id, period, period_start, dimension, member_id, points, reached_at, team_id, listed)
    SELECT org, r.period, r.period_start, r.dimension, r.member_id, sum(r.points), max(r.created_at),
           m.team_id, m.deactivated_at IS NULL
    FROM rebuild_deltas r JOIN members m ON m.id = r.member_id
    GROUP BY r.period, r.period_start, r.dimension, r.member_id, m.team_id, m.deactivated_at;

    INSERT INTO member_points_histogram (organisation_id, period, period_start, dimension, points, members)
    SELECT org, period, period_start, dimension, points, count(*)
    FROM member_period_points
    WHERE organisation_id = org AND listed
    GROUP BY period, period_start, dimension, points;

    INSERT INTO team_period_points (organisation_id, period, period_start, dimension, team_id, points, reached_at)
    SELECT org, period, period_start, dimension, team_id, sum(points), max(created_at)
    FROM rebuild_deltas
    WHERE team_id IS NOT NULL
    GROUP BY period, period_start, dimension, team_id;

    DROP TABLE rebuild_deltas;
END $$;
