-- What a taken-back recognition counted for is taken back too. An undo gives the giver their
-- allowance back, so anything it had counted for and kept would be free to farm: give, let it
-- count, undo, give again. Challenges' activity (one row per counted event, folded into their
-- tallies) gets a negative row for each thing it had counted; badges, streaks, exports and
-- analytics no longer count undone or hidden recognitions (their queries).

-- A reversal takes back what its entry counted towards `points_earned`, for challenges still
-- open that counted it (those running at the entry's time). The rest is
-- 2026-12-06-000001_rewards's function word for word.
CREATE OR REPLACE FUNCTION ledger_entries_to_challenge_activity() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    original ledger_entries%ROWTYPE;
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
    ELSIF NEW.reason = 'reversal' THEN
        SELECT * INTO original FROM ledger_entries
            WHERE organisation_id = NEW.organisation_id AND id = NEW.reverses;
        IF FOUND AND original.points > 0
            AND original.reason NOT IN ('challenge_reward', 'redemption')
            AND challenge_running(NEW.organisation_id, 'points_earned', original.created_at)
            AND NOT (original.reason = 'badge' AND original.source_type = 'badge' AND EXISTS (
                SELECT 1 FROM badges b WHERE b.organisation_id = original.organisation_id
                  AND b.id = original.source_id AND b.criterion = 'challenge')) THEN
            INSERT INTO challenge_activity
                (organisation_id, metric, member_id, team_id, dimension, channel, at, amount)
            VALUES (original.organisation_id, 'points_earned', original.member_id,
                    original.team_id, original.dimension, NULL, original.created_at,
                    -original.points);
        END IF;
    END IF;
    RETURN NULL;
END $$;

-- An undone or hidden recognition no longer counts as given (by its giver) or received (by
-- each recipient), for the open challenges that counted it.
CREATE FUNCTION recognitions_taken_back_from_challenges() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.giver_id IS NOT NULL
        AND challenge_running(NEW.organisation_id, 'recognitions_given', NEW.created_at) THEN
        INSERT INTO challenge_activity
            (organisation_id, metric, member_id, team_id, dimension, channel, at, amount)
        VALUES (NEW.organisation_id, 'recognitions_given', NEW.giver_id, NULL, NEW.dimension,
                NULL, NEW.created_at, -1);
    END IF;
    INSERT INTO challenge_activity
        (organisation_id, metric, member_id, team_id, dimension, channel, at, amount)
    SELECT rr.organisation_id, 'recognitions_received', rr.member_id, rr.team_id,
           NEW.dimension, NULL, rr.created_at, -1
    FROM recognition_recipients rr
    WHERE rr.organisation_id = NEW.organisation_id AND rr.recognition_id = NEW.id
      AND challenge_running(NEW.organisation_id, 'recognitions_received', rr.created_at);
    RETURN NULL;
END $$;
CREATE TRIGGER recognitions_taken_back_challenge_activity
    AFTER UPDATE OF undone_at, hidden_at ON recognitions
    FOR EACH ROW
    WHEN (OLD.undone_at IS NULL AND OLD.hidden_at IS NULL
          AND (NEW.undone_at IS NOT NULL OR NEW.hidden_at IS NOT NULL))
    EXECUTE FUNCTION recognitions_taken_back_from_challenges();

-- Counting recognitions "not taken back" reads recipient rows by member or time and asks, per
-- row, whether its recognition was undone or hidden: few ever are, so this index is small and
-- each question one probe of it.
CREATE INDEX recognitions_taken_back_idx ON recognitions (organisation_id, id)
    WHERE undone_at IS NOT NULL OR hidden_at IS NOT NULL;
