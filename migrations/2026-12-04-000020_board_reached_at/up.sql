-- A member's reached_at on a board is the time of their latest entry, as rebuild_boards (and
-- the seed) compute it: max(created_at). The trigger set it to the time of the entries being
-- written, and two transactions paying one member can commit in the other order than their
-- entries' times (created_at is the transaction's start): the earlier time then overwrote the
-- later, and ties on that board were ordered otherwise than a rebuild orders them. Found by
-- `make soak` (5 of 183,000 member rows after 5 minutes of mixed traffic). Team rows are
-- folded with greatest() already.

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
        DO UPDATE SET points = m.points + EXCLUDED.points,
                      reached_at = greatest(m.reached_at, EXCLUDED.reached_at)
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
