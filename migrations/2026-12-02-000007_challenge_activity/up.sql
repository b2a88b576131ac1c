-- Issue #12 item 2, second step: a counted activity no longer adds to every matching
-- challenge's tallies inside its own transaction (with 200 running challenges that was up to
-- 200 row updates per recognition). It leaves one row here instead, and only when its
-- organisation has a running challenge of that metric; gamification::challenges::fold, run a
-- moment later by any server process (one at a time per organisation, under an advisory lock),
-- moves a batch of rows into the tallies in one statement and completes what is due.
--
-- No foreign keys: each one would take a lock on the referenced row per counted activity, and
-- the rows live for about a second. Nothing reads them but the fold.
CREATE TABLE challenge_activity (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organisation_id uuid NOT NULL,
    metric          text NOT NULL,
    -- Who the activity counts for (author, giver, recipient, earner): the tallies' shard.
    member_id       uuid NOT NULL,
    team_id         uuid,
    dimension       text,
    channel         text,
    at              timestamptz NOT NULL,
    amount          bigint NOT NULL
);
CREATE INDEX challenge_activity_organisation_idx ON challenge_activity (organisation_id, id);

-- Whether an organisation has an open challenge of `metric` whose window holds `at`: the one
-- look-up a counted activity pays (challenges_open_idx), nothing when no challenge runs.
CREATE FUNCTION challenge_running(org uuid, metric_name text, at timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM challenges c
        WHERE c.organisation_id = org AND c.ends_at > at AND c.starts_at <= at
          AND c.completed_at IS NULL AND c.cancelled_at IS NULL AND c.metric = metric_name)
$$;

DROP TRIGGER initiatives_challenge_tallies ON initiatives;
DROP FUNCTION initiatives_to_challenge_tallies();
DROP TRIGGER initiative_events_challenge_tallies ON initiative_events;
DROP FUNCTION initiative_events_to_challenge_tallies();
DROP TRIGGER recognitions_challenge_tallies ON recognitions;
DROP FUNCTION recognitions_to_challenge_tallies();
DROP TRIGGER recognition_recipients_challenge_tallies ON recognition_recipients;
DROP FUNCTION recognition_recipients_to_challenge_tallies();
DROP TRIGGER ledger_entries_challenge_tallies ON ledger_entries;
DROP FUNCTION ledger_entries_to_challenge_tallies();

-- The conditions each metric counts mirror gamification::challenges::metric_sql; the team,
-- dimension and channel filters of each challenge are applied by the fold.
CREATE FUNCTION initiatives_to_challenge_activity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF challenge_running(NEW.organisation_id, 'initiatives_submitted', NEW.created_at) THEN
        INSERT INTO challenge_activity
            (organisation_id, metric, member_id, team_id, dimension, channel, at, amount)
        VALUES (NEW.organisation_id, 'initiatives_submitted', NEW.author_id, NEW.team_id,
                NEW.dimension, NEW.channel, NEW.created_at, 1);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER initiatives_challenge_activity AFTER INSERT ON initiatives
    FOR EACH ROW EXECUTE FUNCTION initiatives_to_challenge_activity();

CREATE FUNCTION initiative_events_to_challenge_activity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind = 'approved'
        AND challenge_running(NEW.organisation_id, 'initiatives_approved', NEW.created_at) THEN
        INSERT INTO challenge_activity
            (organisation_id, metric, member_id, team_id, dimension, channel, at, amount)
        SELECT i.organisation_id, 'initiatives_approved', i.author_id, i.team_id, i.dimension,
               i.channel, NEW.created_at, 1
        FROM initiatives i
        WHERE i.organisation_id = NEW.organisation_id AND i.id = NEW.initiative_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER initiative_events_challenge_activity AFTER INSERT ON initiative_events
    FOR EACH ROW EXECUTE FUNCTION initiative_events_to_challenge_activity();

-- A giver's team is the one they belonged to when they gave (team_memberships), which the fold
-- looks up: the giver's row carries no team.
CREATE FUNCTION recognitions_to_challenge_activity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF challenge_running(NEW.organisation_id, 'recognitions_given', NEW.created_at) THEN
        INSERT INTO challenge_activity
            (organisation_id, metric, member_id, team_id, dimension, channel, at, amount)
        VALUES (NEW.organisation_id, 'recognitions_given', NEW.giver_id, NULL, NEW.dimension,
                NULL, NEW.created_at, 1);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER recognitions_challenge_activity AFTER INSERT ON recognitions
    FOR EACH ROW EXECUTE FUNCTION recognitions_to_challenge_activity();

CREATE FUNCTION recognition_recipients_to_challenge_activity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF challenge_running(NEW.organisation_id, 'recognitions_received', NEW.created_at) THEN
        INSERT INTO challenge_activity
            (organisation_id, metric, member_id, team_id, dimension, channel, at, amount)
        SELECT NEW.organisation_id, 'recognitions_received', NEW.member_id, NEW.team_id,
               r.dimension, NULL, NEW.created_at, 1
        FROM recognitions r
        WHERE r.organisation_id = NEW.organisation_id AND r.id = NEW.recognition_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER recognition_recipients_challenge_activity AFTER INSERT ON recognition_recipients
    FOR EACH ROW EXECUTE FUNCTION recognition_recipients_to_challenge_activity();

-- Rewards of challenges (their ledger entries and the points of challenge badges) never count.
CREATE FUNCTION ledger_entries_to_challenge_activity() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE TRIGGER ledger_entries_challenge_activity AFTER INSERT ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_to_challenge_activity();
