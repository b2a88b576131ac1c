-- The audit log is append-only: entries of these actions stay, so the restored list holds for
-- new entries only (NOT VALID).
DO $$
DECLARE
    def text;
BEGIN
    SELECT pg_get_constraintdef(oid) INTO STRICT def FROM pg_constraint
        WHERE conrelid = 'audit_log'::regclass AND conname = 'audit_log_action_check';
    EXECUTE 'ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check';
    EXECUTE 'ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check '
        || replace(replace(def, '''badge_image_changed''::text, ', ''), '''badge_assertion_revoked''::text, ', '') || ' NOT VALID';
END $$;

ALTER TABLE organisations DROP COLUMN badge_contact_email;
DROP TABLE badge_images;
DROP TRIGGER member_badges_assertion ON member_badges;
DROP FUNCTION member_badges_to_assertions();
DROP TABLE badge_assertions;
