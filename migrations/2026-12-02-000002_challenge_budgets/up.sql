-- Issue #12 items 1 and 2: challenges paid from a budget, cancellable before they start, and
-- evaluated from per-challenge tallies instead of one aggregate per running challenge.

-- What a team lead's challenge reserved from their monthly recognition budget
-- (giving_balances kind 'lead', month `reserved_period`), and for how many members:
-- completion pays at most `reward_slots` participants. Admins' challenges reserve nothing and
-- have no slot limit (reward_slots NULL); their reward is bounded by
-- point_rules.challenge_reward_cap instead.
ALTER TABLE challenges
    ADD COLUMN reserved_points integer NOT NULL DEFAULT 0
        CONSTRAINT challenges_reserved_points_check CHECK (reserved_points >= 0),
    ADD COLUMN reserved_period date,
    ADD COLUMN reward_slots integer
        CONSTRAINT challenges_reward_slots_check CHECK (reward_slots >= 0),
    ADD COLUMN cancelled_at timestamptz,
    ADD COLUMN cancelled_by uuid,
    ADD CONSTRAINT challenges_cancelled_by_fkey FOREIGN KEY (organisation_id, cancelled_by)
        REFERENCES members (organisation_id, id),
    ADD CONSTRAINT challenges_cancelled_check CHECK ((cancelled_at IS NULL) = (cancelled_by IS NULL));

-- Running totals of each uncompleted challenge's metric, kept by the triggers below in the
-- transaction of the activity that counts. They only tell a write when a challenge may have
-- reached its target (completion re-measures exactly under the challenge's row lock), so a
-- count missed or doubled by a race is harmless. Split in 16 shards by the participant, so
-- concurrent activity of different members rarely waits on the same row.
CREATE TABLE challenge_tallies (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    challenge_id    uuid NOT NULL,
    shard           smallint NOT NULL,
    amount          bigint NOT NULL,
    PRIMARY KEY (challenge_id, shard),
    CONSTRAINT challenge_tallies_challenge_fkey FOREIGN KEY (organisation_id, challenge_id)
        REFERENCES challenges (organisation_id, id),
    CONSTRAINT challenge_tallies_shard_check CHECK (shard BETWEEN 0 AND 15)
);

CREATE FUNCTION challenge_shard(member uuid) RETURNS smallint LANGUAGE sql IMMUTABLE AS $$
    SELECT (get_byte(uuid_send(member), 15) & 15)::smallint
$$;

-- Each trigger adds what its row counts to the running, uncompleted challenges it falls in, in
-- (challenge, shard) order. They are deferred: a tally row stays locked until commit, so they
-- run at the end of the activity (gamification::challenges::evaluate sets them IMMEDIATE just
-- before it checks the tallies; otherwise at commit), not while the activity still waits on
-- leaderboard rows. The conditions mirror gamification::challenges::metric_sql.
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

-- Challenges that are not cancelled and not completed, by organisation and window: what the
-- triggers and the write path's completion check look up.
CREATE INDEX challenges_open_idx ON challenges (organisation_id, ends_at, starts_at)
    WHERE completed_at IS NULL AND cancelled_at IS NULL;

-- Challenges already running when this lands have no tallies for what happened before: the
-- next read of one (list, show, my progress) measures it exactly and completes it if due.
