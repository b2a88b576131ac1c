-- Issue #16, SCIM 2.0 provisioning (src/scim): an identity provider keeps members and teams in
-- sync through /scim/v2, with an API key of the new `scim` scope.

-- The scope and audit lists are extended in place rather than restated, so that a migration of
-- the same issue that adds values of its own (landing before this one) keeps them.
DO $$
DECLARE
    def text;
BEGIN
    SELECT pg_get_constraintdef(oid) INTO STRICT def FROM pg_constraint
        WHERE conrelid = 'api_keys'::regclass AND conname = 'api_keys_scopes_check';
    EXECUTE 'ALTER TABLE api_keys DROP CONSTRAINT api_keys_scopes_check';
    EXECUTE 'ALTER TABLE api_keys ADD CONSTRAINT api_keys_scopes_check '
        || replace(def, 'ARRAY[', 'ARRAY[''scim''::text, ');
    SELECT pg_get_constraintdef(oid) INTO STRICT def FROM pg_constraint
        WHERE conrelid = 'audit_log'::regclass AND conname = 'audit_log_action_check';
    EXECUTE 'ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check';
    EXECUTE 'ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check '
        || replace(def, 'ARRAY[', 'ARRAY[''scim_user_created''::text, ''scim_user_replaced''::text, '
            || '''scim_user_patched''::text, ''scim_user_deleted''::text, ''scim_group_created''::text, '
            || '''scim_group_replaced''::text, ''scim_group_patched''::text, ''scim_group_deleted''::text, ');
END $$;

-- What the identity provider asserted about a member (the User resource as sent, minus id,
-- meta and schemas), so that what it wrote reads back exactly. A member with no row here was
-- never provisioned: /Users shows a document made from the member. `deleted_at`: the SCIM
-- identity is gone (DELETE /Users/{id}) while the member is only deactivated, history kept.
CREATE TABLE scim_users (
    organisation_id uuid NOT NULL,
    member_id       uuid PRIMARY KEY,
    user_name       text NOT NULL,
    external_id     text,
    document        jsonb NOT NULL,
    deleted_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT scim_users_member_fkey FOREIGN KEY (organisation_id, member_id)
        REFERENCES members (organisation_id, id),
    CONSTRAINT scim_users_user_name_length CHECK (char_length(user_name) BETWEEN 1 AND 256),
    CONSTRAINT scim_users_document_object CHECK (jsonb_typeof(document) = 'object')
);
CREATE UNIQUE INDEX scim_users_user_name_key ON scim_users (organisation_id, lower(user_name))
    WHERE deleted_at IS NULL;
CREATE INDEX scim_users_external_id_idx ON scim_users (organisation_id, external_id);

-- The same for teams (Group resources).
CREATE TABLE scim_groups (
    organisation_id uuid NOT NULL,
    team_id         uuid PRIMARY KEY,
    external_id     text,
    document        jsonb NOT NULL,
    deleted_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT scim_groups_team_fkey FOREIGN KEY (organisation_id, team_id)
        REFERENCES teams (organisation_id, id),
    CONSTRAINT scim_groups_document_object CHECK (jsonb_typeof(document) = 'object')
);
CREATE INDEX scim_groups_external_id_idx ON scim_groups (organisation_id, external_id);
