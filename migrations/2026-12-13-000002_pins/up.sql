-- Issue #17, PINs: on shared devices an organisation may let staff sign in with their employee
-- number and a short numeric PIN (never admins or HR), throttled harder than a password.
ALTER TABLE organisations ADD COLUMN pin_sign_in boolean NOT NULL DEFAULT false;
-- An argon2 hash, like a password's.
ALTER TABLE members ADD COLUMN pin_hash text;

DO $$
DECLARE
    def text;
BEGIN
    SELECT pg_get_constraintdef(oid) INTO STRICT def FROM pg_constraint
        WHERE conrelid = 'audit_log'::regclass AND conname = 'audit_log_action_check';
    EXECUTE 'ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check';
    EXECUTE 'ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check '
        || replace(def, 'ARRAY[', 'ARRAY[''pin_set''::text, ''pin_removed''::text, ');
END $$;
