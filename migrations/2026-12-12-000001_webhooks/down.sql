DROP TABLE webhook_attempts;
DROP TABLE webhook_messages;
DROP TABLE webhook_endpoints;
DO $$
DECLARE
    def text;
BEGIN
    SELECT pg_get_constraintdef(oid) INTO STRICT def FROM pg_constraint
        WHERE conrelid = 'audit_log'::regclass AND conname = 'audit_log_action_check';
    EXECUTE 'ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check';
    EXECUTE 'ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check '
        || replace(replace(replace(replace(replace(def,
            '''webhook_created''::text, ', ''), '''webhook_changed''::text, ', ''),
            '''webhook_deleted''::text, ', ''), '''webhook_secret_rotated''::text, ', ''),
            '''webhook_disabled''::text, ', '')
        || ' NOT VALID';
END $$;
