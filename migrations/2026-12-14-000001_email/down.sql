DROP TABLE email_messages;
ALTER TABLE member_invites DROP COLUMN purpose;
ALTER TABLE organisations DROP COLUMN weekly_lead_digest, DROP COLUMN language;
DO $$
DECLARE
    def text;
BEGIN
    SELECT pg_get_constraintdef(oid) INTO STRICT def FROM pg_constraint
        WHERE conrelid = 'audit_log'::regclass AND conname = 'audit_log_action_check';
    EXECUTE 'ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check';
    EXECUTE 'ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check '
        || replace(def, '''password_reset''::text, ', '') || ' NOT VALID';
END $$;
