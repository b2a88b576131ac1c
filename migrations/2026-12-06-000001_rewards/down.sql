-- Back to the functions and constraints as they were before rewards. Fails while the ledger
-- holds redemption entries (it is append-only): there is no going back once points were spent.

CREATE OR REPLACE FUNCTION ledger_entries_to_challenge_activity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.points > 0 AND NEW.reason <> 'challenge_reward'
        AND challenge_running(NEW.organisation_id, 'points_earned', NEW.created_at)
        AND NOT (NEW.reason = 'badge' AND NEW.source_type = 'badge' AND EXISTS (
            SELECT 1 FROM badges b WHERE b.organisation_id = NEW.organisation_id
              AND b.id = NEW.source_id AND b.criterion = 'challenge')) THEN
        INSERT INTO challenge_activity
            (organisation_id, metric, member_id, team_id, dimension, channel, at, amount)
        VALUES (NEW.organisation_id, 'points_earned', NEW.member_id, NEW.team_id,
                NEW.dimension, NULL, NEW.created_at, NEW.points);
    END IF;
    RETURN NULL;
END $$;

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

DROP TABLE redemptions;
DROP TABLE reward_items;

ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check CHECK (action IN (
    'export', 'erasure', 'role_change', 'member_deactivated', 'member_reactivated',
    'api_key_created', 'api_key_revoked', 'api_key_used',
    'point_reversal', 'point_adjustment', 'point_rules_changed', 'kpi_recorded', 'kpi_corrected',
    'organisation_settings_changed', 'member_created', 'invite_created', 'invite_accepted',
    'password_changed', 'api_key_reassigned',
    'challenge_created', 'challenge_changed', 'challenge_cancelled',
    'value_created', 'value_changed',
    'recognition_undone', 'recognition_hidden', 'comment_hidden', 'comment_deleted',
    'report_dismissed'));

ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_redemption_source;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_reversal_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_reversal_check CHECK ((reason = 'reversal') = (reverses IS NOT NULL));
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_reason_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_reason_check CHECK (reason IN (
    'initiative_submitted', 'initiative_approved', 'initiative_implemented', 'initiative_measured',
    'initiative_contribution', 'recognition_received', 'recognition_boost', 'badge',
    'challenge_reward', 'adjustment', 'reversal'));
