-- Rewards (issue #15): a catalogue per organisation, and redemptions that spend points.
--
-- Spending is a ledger entry like every other movement of points: reason 'redemption',
-- negative, its source the redemption. A refund (a declined or cancelled redemption) is a
-- positive 'redemption' entry that `reverses` the debit, so the unique key on `reverses` makes
-- it once per redemption. Boards, challenges and every "points earned" ignore both: they rank
-- what was earned, not what is left to spend.

-- The ledger's vocabulary: 'redemption' is a reason of its own, and the one besides 'reversal'
-- whose entries may reverse another (a refund reverses its debit, and only a refund does).
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_reason_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_reason_check CHECK (reason IN (
    'initiative_submitted', 'initiative_approved', 'initiative_implemented', 'initiative_measured',
    'initiative_contribution', 'recognition_received', 'recognition_boost', 'badge',
    'challenge_reward', 'adjustment', 'reversal', 'redemption'));
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_reversal_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_reversal_check CHECK (CASE reason
    WHEN 'reversal' THEN reverses IS NOT NULL
    WHEN 'redemption' THEN (reverses IS NOT NULL) = (points > 0)
    ELSE reverses IS NULL END);
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_redemption_source CHECK (
    reason <> 'redemption' OR (source_type = 'redemption' AND source_id IS NOT NULL));

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
    'report_dismissed',
    'reward_item_created', 'reward_item_changed',
    'redemption_requested', 'redemption_approved', 'redemption_declined',
    'redemption_fulfilled', 'redemption_cancelled'));

-- The catalogue. Items are never deleted (a redemption refers to its item): an admin
-- deactivates them.
CREATE TABLE reward_items (
    organisation_id   uuid NOT NULL REFERENCES organisations (id),
    id                uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    title             text NOT NULL,
    description       text NOT NULL DEFAULT '',
    image_url         text,
    point_cost        integer NOT NULL,
    -- What is left to redeem; NULL: unlimited. Taken by a conditional UPDATE (stock > 0).
    stock             integer,
    requires_approval boolean NOT NULL DEFAULT false,
    active            boolean NOT NULL DEFAULT true,
    created_by        uuid NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT reward_items_organisation_id_id_key UNIQUE (organisation_id, id),
    CONSTRAINT reward_items_created_by_fkey FOREIGN KEY (organisation_id, created_by) REFERENCES members (organisation_id, id),
    CONSTRAINT reward_items_title_length CHECK (char_length(title) BETWEEN 1 AND 200),
    CONSTRAINT reward_items_description_length CHECK (char_length(description) <= 2000),
    CONSTRAINT reward_items_image_url_format CHECK (image_url IS NULL
        OR (char_length(image_url) <= 2048 AND image_url ~ '^https?://[^[:space:]]+$')),
    CONSTRAINT reward_items_point_cost_check CHECK (point_cost BETWEEN 1 AND 1000000),
    CONSTRAINT reward_items_stock_check CHECK (stock IS NULL OR stock BETWEEN 0 AND 1000000)
);
CREATE INDEX reward_items_listing_idx ON reward_items (organisation_id, created_at DESC, id DESC);

-- A member's redemption of an item. Its id is chosen by the service, which names it as the
-- source of the debit before the row is written. The refund, if any, is the ledger entry that
-- reverses `entry_id`.
CREATE TABLE redemptions (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    id              uuid NOT NULL PRIMARY KEY,
    item_id         uuid NOT NULL,
    member_id       uuid NOT NULL,
    -- The item's cost when redeemed: what was debited, and what a refund gives back.
    points          integer NOT NULL,
    status          text NOT NULL,
    entry_id        uuid NOT NULL,
    decided_by      uuid,
    decided_at      timestamptz,
    decline_reason  text,
    fulfilled_by    uuid,
    fulfilled_at    timestamptz,
    cancelled_by    uuid,
    cancelled_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT redemptions_organisation_id_id_key UNIQUE (organisation_id, id),
    CONSTRAINT redemptions_entry_id_key UNIQUE (entry_id),
    CONSTRAINT redemptions_item_fkey FOREIGN KEY (organisation_id, item_id) REFERENCES reward_items (organisation_id, id),
    CONSTRAINT redemptions_member_fkey FOREIGN KEY (organisation_id, member_id) REFERENCES members (organisation_id, id),
    CONSTRAINT redemptions_entry_fkey FOREIGN KEY (organisation_id, entry_id) REFERENCES ledger_entries (organisation_id, id),
    CONSTRAINT redemptions_decided_by_fkey FOREIGN KEY (organisation_id, decided_by) REFERENCES members (organisation_id, id),
    CONSTRAINT redemptions_fulfilled_by_fkey FOREIGN KEY (organisation_id, fulfilled_by) REFERENCES members (organisation_id, id),
    CONSTRAINT redemptions_cancelled_by_fkey FOREIGN KEY (organisation_id, cancelled_by) REFERENCES members (organisation_id, id),
    CONSTRAINT redemptions_points_check CHECK (points > 0),
    CONSTRAINT redemptions_status_check CHECK (status IN ('requested', 'approved', 'declined', 'fulfilled', 'cancelled')),
    CONSTRAINT redemptions_decline_reason_length CHECK (decline_reason IS NULL OR char_length(decline_reason) BETWEEN 1 AND 1000)
);
CREATE INDEX redemptions_queue_idx ON redemptions (organisation_id, status, created_at, id);
CREATE INDEX redemptions_listing_idx ON redemptions (organisation_id, created_at, id);
CREATE INDEX redemptions_member_idx ON redemptions (organisation_id, member_id, created_at DESC, id DESC);
CREATE INDEX redemptions_item_idx ON redemptions (organisation_id, item_id);

-- The boards' trigger as 2026-12-04-000020_board_reached_at made it, ignoring redemptions.
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
        -- Boards rank points earned: spending them on rewards (and refunds) moves no board.
        WHERE n.reason <> 'redemption'
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

-- rebuild_boards as 2026-12-04-000001_board_deltas made it, ignoring redemptions.
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
    WHERE e.organisation_id = org AND e.reason <> 'redemption';

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

-- Challenges' points_earned as 2026-12-02-000007_challenge_activity made it: a refund is not
-- points earned either.
CREATE OR REPLACE FUNCTION ledger_entries_to_challenge_activity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.points > 0 AND NEW.reason NOT IN ('challenge_reward', 'redemption')
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
