DROP TABLE scim_groups;
DROP TABLE scim_users;
DELETE FROM api_keys WHERE 'scim' = ANY (scopes) AND cardinality(scopes) = 1;
UPDATE api_keys SET scopes = array_remove(scopes, 'scim') WHERE 'scim' = ANY (scopes);
DO $$
DECLARE
    def text;
BEGIN
    SELECT pg_get_constraintdef(oid) INTO STRICT def FROM pg_constraint
        WHERE conrelid = 'api_keys'::regclass AND conname = 'api_keys_scopes_check';
    EXECUTE 'ALTER TABLE api_keys DROP CONSTRAINT api_keys_scopes_check';
    EXECUTE 'ALTER TABLE api_keys ADD CONSTRAINT api_keys_scopes_check '
        || replace(def, '''scim''::text, ', '');
    SELECT pg_get_constraintdef(oid) INTO STRICT def FROM pg_constraint
        WHERE conrelid = 'audit_log'::regclass AND conname = 'audit_log_action_check';
    EXECUTE 'ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check';
    EXECUTE 'ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check '
        || replace(replace(replace(replace(replace(replace(replace(replace(def,
            '''scim_user_created''::text, ', ''), '''scim_user_replaced''::text, ', ''),
            '''scim_user_patched''::text, ', ''), '''scim_user_deleted''::text, ', ''),
            '''scim_group_created''::text, ', ''), '''scim_group_replaced''::text, ', ''),
            '''scim_group_patched''::text, ', ''), '''scim_group_deleted''::text, ', '')
        || ' NOT VALID';
END $$;
