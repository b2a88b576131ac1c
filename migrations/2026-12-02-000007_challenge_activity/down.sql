-- Back to tallies kept by the activity's own transaction (the triggers of
-- 2026-12-02-000002_challenge_budgets, re-created below). Activity the fold did not reach is
-- lost from the tallies (they are only hints; a read measures exactly).
DROP TRIGGER ledger_entries_challenge_activity ON ledger_entries;
DROP FUNCTION ledger_entries_to_challenge_activity();
DROP TRIGGER recognition_recipients_challenge_activity ON recognition_recipients;
DROP FUNCTION recognition_recipients_to_challenge_activity();
DROP TRIGGER recognitions_challenge_activity ON recognitions;
DROP FUNCTION recognitions_to_challenge_activity();
DROP TRIGGER initiative_events_challenge_activity ON initiative_events;
DROP FUNCTION initiative_events_to_challenge_activity();
DROP TRIGGER initiatives_challenge_activity ON initiatives;
DROP FUNCTION initiatives_to_challenge_activity();
DROP FUNCTION challenge_running(uuid, text, timestamptz);
DROP TABLE challenge_activity;

CREATE FUNCTION initiatives_to_challenge_tallies() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO challenge_tallies AS t (organisation_id, challenge_id, shard, amount)
    SELECT c.organisation_id, c.id, challenge_shard(x.author_id), count(*)
    FROM (SELECT NEW.organisation_id AS organisation_id, NEW.created_at AS created_at,
                 NEW.author_id AS author_id, NEW.team_id AS team_id, NEW.dimension AS dimension,
                 NEW.channel AS channel) x
    JOIN challenges c ON c.organisation_id = x.organisation_id
        AND c.ends_at > x.created_at AND c.starts_at <= x.created_at
        AND c.metric = 'initiatives_submitted'
        AND c.completed_at IS NULL AND c.cancelled_at IS NULL
        AND (c.team_id IS NULL OR c.team_id = x.team_id)
        AND (c.dimension IS NULL OR c.dimension = x.dimension)
        AND (c.channel IS NULL OR c.channel = x.channel)
    GROUP BY 1, 2, 3
    ORDER BY 2, 3
    ON CONFLICT (challenge_id, shard) DO UPDATE SET amount = t.amount + EXCLUDED.amount;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER initiatives_challenge_tallies AFTER INSERT ON initiatives
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION initiatives_to_challenge_tallies();

CREATE FUNCTION initiative_events_to_challenge_tallies() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO challenge_tallies AS t (organisation_id, challenge_id, shard, amount)
    SELECT c.organisation_id, c.id, challenge_shard(i.author_id), count(DISTINCT e.initiative_id)
    FROM (SELECT NEW.organisation_id AS organisation_id, NEW.created_at AS created_at,
                 NEW.initiative_id AS initiative_id, NEW.kind AS kind) e
    JOIN initiatives i ON i.id = e.initiative_id AND i.organisation_id = e.organisation_id
    JOIN challenges c ON c.organisation_id = e.organisation_id
        AND c.ends_at > e.created_at AND c.starts_at <= e.created_at
        AND c.metric = 'initiatives_approved'
        AND c.completed_at IS NULL AND c.cancelled_at IS NULL
        AND (c.team_id IS NULL OR c.team_id = i.team_id)
        AND (c.dimension IS NULL OR c.dimension = i.dimension)
        AND (c.channel IS NULL OR c.channel = i.channel)
    WHERE e.kind = 'approved'
    GROUP BY 1, 2, 3
    ORDER BY 2, 3
    ON CONFLICT (challenge_id, shard) DO UPDATE SET amount = t.amount + EXCLUDED.amount;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER initiative_events_challenge_tallies AFTER INSERT ON initiative_events
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION initiative_events_to_challenge_tallies();

CREATE FUNCTION recognitions_to_challenge_tallies() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO challenge_tallies AS t (organisation_id, challenge_id, shard, amount)
    SELECT c.organisation_id, c.id, challenge_shard(x.giver_id), count(*)
    FROM (SELECT NEW.organisation_id AS organisation_id, NEW.created_at AS created_at,
                 NEW.giver_id AS giver_id, NEW.dimension AS dimension) x
    JOIN challenges c ON c.organisation_id = x.organisation_id
        AND c.ends_at > x.created_at AND c.starts_at <= x.created_at
        AND c.metric = 'recognitions_given'
        AND c.completed_at IS NULL AND c.cancelled_at IS NULL
        AND (c.dimension IS NULL OR c.dimension = x.dimension)
        AND (c.team_id IS NULL OR EXISTS (SELECT 1 FROM team_memberships tm
            WHERE tm.organisation_id = x.organisation_id AND tm.member_id = x.giver_id
              AND tm.team_id = c.team_id AND tm.started_at <= x.created_at
              AND (tm.ended_at IS NULL OR tm.ended_at > x.created_at)))
    GROUP BY 1, 2, 3
    ORDER BY 2, 3
    ON CONFLICT (challenge_id, shard) DO UPDATE SET amount = t.amount + EXCLUDED.amount;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER recognitions_challenge_tallies AFTER INSERT ON recognitions
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION recognitions_to_challenge_tallies();

CREATE FUNCTION recognition_recipients_to_challenge_tallies() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO challenge_tallies AS t (organisation_id, challenge_id, shard, amount)
    SELECT c.organisation_id, c.id, challenge_shard(x.member_id), count(*)
    FROM (SELECT NEW.organisation_id AS organisation_id, NEW.created_at AS created_at,
                 NEW.member_id AS member_id, NEW.team_id AS team_id,
                 NEW.recognition_id AS recognition_id) x
    JOIN recognitions r ON r.id = x.recognition_id AND r.organisation_id = x.organisation_id
    JOIN challenges c ON c.organisation_id = x.organisation_id
        AND c.ends_at > x.created_at AND c.starts_at <= x.created_at
        AND c.metric = 'recognitions_received'
        AND c.completed_at IS NULL AND c.cancelled_at IS NULL
        AND (c.team_id IS NULL OR c.team_id = x.team_id)
        AND (c.dimension IS NULL OR c.dimension = r.dimension)
    GROUP BY 1, 2, 3
    ORDER BY 2, 3
    ON CONFLICT (challenge_id, shard) DO UPDATE SET amount = t.amount + EXCLUDED.amount;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER recognition_recipients_challenge_tallies AFTER INSERT ON recognition_recipients
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION recognition_recipients_to_challenge_tallies();

-- Rewards of challenges (their ledger entries and the points of challenge badges) never count.
CREATE FUNCTION ledger_entries_to_challenge_tallies() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO challenge_tallies AS t (organisation_id, challenge_id, shard, amount)
    SELECT c.organisation_id, c.id, challenge_shard(x.member_id), sum(x.points)
    FROM (SELECT NEW.organisation_id AS organisation_id, NEW.created_at AS created_at,
                 NEW.member_id AS member_id, NEW.team_id AS team_id, NEW.dimension AS dimension,
                 NEW.points AS points, NEW.reason AS reason, NEW.source_type AS source_type,
                 NEW.source_id AS source_id) x
    JOIN challenges c ON c.organisation_id = x.organisation_id
        AND c.ends_at > x.created_at AND c.starts_at <= x.created_at
        AND c.metric = 'points_earned'
        AND c.completed_at IS NULL AND c.cancelled_at IS NULL
        AND (c.team_id IS NULL OR c.team_id = x.team_id)
        AND (c.dimension IS NULL OR c.dimension = x.dimension)
    WHERE x.points > 0 AND x.reason <> 'challenge_reward'
      AND NOT (x.reason = 'badge' AND x.source_type = 'badge' AND EXISTS (SELECT 1 FROM badges b
          WHERE b.organisation_id = x.organisation_id AND b.id = x.source_id
            AND b.criterion = 'challenge'))
    GROUP BY 1, 2, 3
    ORDER BY 2, 3
    ON CONFLICT (challenge_id, shard) DO UPDATE SET amount = t.amount + EXCLUDED.amount;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER ledger_entries_challenge_tallies AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_to_challenge_tallies();
