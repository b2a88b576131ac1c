DROP TABLE sso_login_codes;
DROP TABLE sso_flows;
DROP INDEX members_sso_subject_key;
ALTER TABLE members DROP COLUMN sso_subject;
DROP TABLE sso_break_glass_admins;
DROP TABLE sso_providers;
DO $$
DECLARE
    def text;
BEGIN
    SELECT pg_get_constraintdef(oid) INTO STRICT def FROM pg_constraint
        WHERE conrelid = 'audit_log'::regclass AND conname = 'audit_log_action_check';
    EXECUTE 'ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check';
    EXECUTE 'ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check '
        || replace(replace(replace(replace(def,
            '''sso_configured''::text, ', ''), '''sso_removed''::text, ', ''),
            '''sso_linked''::text, ', ''), '''sso_member_created''::text, ', '')
        || ' NOT VALID';
END $$;
