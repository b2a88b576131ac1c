ALTER TABLE members DROP COLUMN pin_hash;
ALTER TABLE organisations DROP COLUMN pin_sign_in;
DO $$
DECLARE
    def text;
BEGIN
    SELECT pg_get_constraintdef(oid) INTO STRICT def FROM pg_constraint
        WHERE conrelid = 'audit_log'::regclass AND conname = 'audit_log_action_check';
    EXECUTE 'ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check';
    EXECUTE 'ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check '
        || replace(replace(def, '''pin_set''::text, ', ''), '''pin_removed''::text, ', '')
        || ' NOT VALID';
END $$;
