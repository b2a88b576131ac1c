CREATE OR REPLACE FUNCTION recognitions_to_challenge_activity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF challenge_running(NEW.organisation_id, 'recognitions_given', NEW.created_at) THEN
        INSERT INTO challenge_activity
            (organisation_id, metric, member_id, team_id, dimension, channel, at, amount)
        VALUES (NEW.organisation_id, 'recognitions_given', NEW.giver_id, NULL, NEW.dimension,
                NULL, NEW.created_at, 1);
    END IF;
    RETURN NULL;
END $$;

DROP TABLE celebrations;

-- Celebrations' recognitions go; their ledger entries cannot (the ledger is append-only), so
-- the reason list is restored NOT VALID: it holds for new entries only.
DELETE FROM recognition_reactions WHERE recognition_id IN (SELECT id FROM recognitions WHERE kind = 'celebration');
DELETE FROM recognition_values WHERE recognition_id IN (SELECT id FROM recognitions WHERE kind = 'celebration');
DELETE FROM recognition_hashtags WHERE recognition_id IN (SELECT id FROM recognitions WHERE kind = 'celebration');
DELETE FROM recognition_recipients WHERE recognition_id IN (SELECT id FROM recognitions WHERE kind = 'celebration');
DELETE FROM recognitions WHERE kind = 'celebration';
ALTER TABLE recognitions DROP CONSTRAINT recognitions_giver_check;
DO $$
DECLARE
    def text;
BEGIN
    SELECT pg_get_constraintdef(oid) INTO STRICT def FROM pg_constraint
        WHERE conrelid = 'recognitions'::regclass AND conname = 'recognitions_kind_check';
    EXECUTE 'ALTER TABLE recognitions DROP CONSTRAINT recognitions_kind_check';
    EXECUTE 'ALTER TABLE recognitions ADD CONSTRAINT recognitions_kind_check '
        || replace(def, '''celebration''::text, ', '');
    SELECT pg_get_constraintdef(oid) INTO STRICT def FROM pg_constraint
        WHERE conrelid = 'ledger_entries'::regclass AND conname = 'ledger_entries_reason_check';
    EXECUTE 'ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_reason_check';
    EXECUTE 'ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_reason_check '
        || replace(def, '''celebration''::text, ', '') || ' NOT VALID';
END $$;
ALTER TABLE recognitions ALTER COLUMN giver_id SET NOT NULL;

ALTER TABLE point_rules DROP COLUMN anniversary_points, DROP COLUMN birthday_points;

DROP INDEX members_anniversary_idx;
DROP INDEX members_birthday_idx;
ALTER TABLE members DROP CONSTRAINT members_started_on_check;
ALTER TABLE members DROP CONSTRAINT members_birth_date_check;
ALTER TABLE members DROP COLUMN started_on, DROP COLUMN birth_day, DROP COLUMN birth_month;
