-- Back to the trigger that updates the shared rows itself, after folding what is queued.
SELECT fold_boards();
DROP FUNCTION board_team_points(uuid, text, date, text);
DROP FUNCTION board_histogram(uuid, text, date, text);
DROP FUNCTION fold_boards();
CREATE OR REPLACE FUNCTION ledger_entries_to_boards() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS board_deltas (
        organisation_id uuid, period text, period_start date, dimension text,
        member_id uuid, team_id uuid, points bigint, at timestamptz
    ) ON COMMIT DELETE ROWS;
    DELETE FROM board_deltas;

    INSERT INTO board_deltas
    SELECT n.organisation_id, p.period, p.period_start, d.dimension, n.member_id, n.team_id,
           n.points, n.created_at
    FROM new_entries n
    JOIN organisations o ON o.id = n.organisation_id
    CROSS JOIN LATERAL board_periods(n.created_at AT TIME ZONE o.time_zone) p
    CROSS JOIN LATERAL (SELECT '' AS dimension
                        UNION ALL
                        SELECT n.dimension WHERE n.dimension IS NOT NULL) d;

    WITH delta AS (
        SELECT organisation_id, period, period_start, dimension, member_id,
               sum(points) AS points, max(at) AS at
        FROM board_deltas
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
    )
    INSERT INTO member_points_histogram AS h (organisation_id, period, period_start, dimension, points, members)
    SELECT organisation_id, period, period_start, dimension, points, sum(change)
    FROM moves
    GROUP BY 1, 2, 3, 4, 5
    HAVING sum(change) <> 0
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (organisation_id, period, period_start, dimension, points)
    DO UPDATE SET members = h.members + EXCLUDED.members;

    INSERT INTO team_period_points AS t
        (organisation_id, period, period_start, dimension, team_id, points, reached_at)
    SELECT organisation_id, period, period_start, dimension, team_id, sum(points), max(at)
    FROM board_deltas
    WHERE team_id IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (organisation_id, period, period_start, dimension, team_id)
    DO UPDATE SET points = t.points + EXCLUDED.points, reached_at = EXCLUDED.reached_at;

    DELETE FROM board_deltas;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION rebuild_boards(org uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
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

DROP TABLE team_period_points_pending;
DROP TABLE member_points_histogram_pending;
