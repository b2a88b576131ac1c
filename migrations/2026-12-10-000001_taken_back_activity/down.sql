DROP INDEX recognitions_taken_back_idx;
DROP TRIGGER recognitions_taken_back_challenge_activity ON recognitions;
DROP FUNCTION recognitions_taken_back_from_challenges();

-- As 2026-12-06-000001_rewards left it.
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
