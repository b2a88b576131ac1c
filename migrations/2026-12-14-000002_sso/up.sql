-- Issue #17, single sign-on (src/sso): an organisation may sign its members in through its
-- OpenID Connect provider (Entra ID, Okta, Google, ...). The API issues its own tokens after
-- the provider vouched for someone, as after a password login.

DO $$
DECLARE
    def text;
BEGIN
    SELECT pg_get_constraintdef(oid) INTO STRICT def FROM pg_constraint
        WHERE conrelid = 'audit_log'::regclass AND conname = 'audit_log_action_check';
    EXECUTE 'ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check';
    EXECUTE 'ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check '
        || replace(def, 'ARRAY[', 'ARRAY[''sso_configured''::text, ''sso_removed''::text, '
            || '''sso_linked''::text, ''sso_member_created''::text, ');
END $$;

-- The provider of an organisation (one at most). `issuer` is the discovery document's own
-- `issuer` (what ID tokens' `iss` must equal). `client_secret` is sent to the provider's token
-- endpoint, so the server keeps it as written; the API never shows it.
-- `subject_claim`: the ID token claim that names a person for good (`sub`; Entra ID: `oid`).
-- `required`: password and PIN sign-in are refused for everyone but the break-glass admins.
CREATE TABLE sso_providers (
    organisation_id            uuid PRIMARY KEY REFERENCES organisations (id),
    issuer                     text NOT NULL,
    client_id                  text NOT NULL,
    client_secret              text NOT NULL,
    extra_scopes               text[] NOT NULL DEFAULT '{}',
    subject_claim              text NOT NULL DEFAULT 'sub',
    match_email_on_first_login boolean NOT NULL DEFAULT false,
    jit_team_id                uuid,
    required                   boolean NOT NULL DEFAULT false,
    app_redirect_uris          text[] NOT NULL DEFAULT '{}',
    created_at                 timestamptz NOT NULL DEFAULT frontline_now(),
    updated_at                 timestamptz NOT NULL DEFAULT frontline_now(),
    CONSTRAINT sso_providers_jit_team_id_fkey FOREIGN KEY (organisation_id, jit_team_id)
        REFERENCES teams (organisation_id, id),
    CONSTRAINT sso_providers_issuer_length CHECK (char_length(issuer) BETWEEN 1 AND 500),
    CONSTRAINT sso_providers_client_id_length CHECK (char_length(client_id) BETWEEN 1 AND 500),
    CONSTRAINT sso_providers_client_secret_length CHECK (char_length(client_secret) BETWEEN 1 AND 1000),
    CONSTRAINT sso_providers_extra_scopes_count CHECK (cardinality(extra_scopes) <= 20),
    CONSTRAINT sso_providers_subject_claim_length CHECK (char_length(subject_claim) BETWEEN 1 AND 64),
    CONSTRAINT sso_providers_app_redirect_uris_count CHECK (cardinality(app_redirect_uris) <= 20)
);

-- The admins who may still sign in with their password when SSO is required ("break glass":
-- the provider is down or misconfigured). They must be admins when named, and sign in only
-- while they still are.
CREATE TABLE sso_break_glass_admins (
    organisation_id uuid NOT NULL REFERENCES sso_providers (organisation_id) ON DELETE CASCADE,
    member_id       uuid NOT NULL,
    PRIMARY KEY (organisation_id, member_id),
    CONSTRAINT sso_break_glass_admins_member_id_fkey FOREIGN KEY (organisation_id, member_id)
        REFERENCES members (organisation_id, id)
);

-- Who a member is at the provider (the value of `subject_claim`), stored at their first SSO
-- sign-in; unique in the organisation.
ALTER TABLE members ADD COLUMN sso_subject text;
ALTER TABLE members ADD CONSTRAINT members_sso_subject_length
    CHECK (sso_subject IS NULL OR char_length(sso_subject) BETWEEN 1 AND 255);
CREATE UNIQUE INDEX members_sso_subject_key ON members (organisation_id, sso_subject)
    WHERE sso_subject IS NOT NULL;

-- A sign-in under way, between the start (the browser leaves for the provider) and the
-- callback (it comes back): kept here, not in a process's memory, so any server process may
-- answer the callback. `state_hash`: SHA-256 of the `state` sent (the raw value exists only
-- in the browser's URL); single-use: the callback deletes the row it reads. `nonce_hash`: of
-- the nonce the ID token must carry. `code_verifier`: PKCE's, sent with the code.
CREATE TABLE sso_flows (
    state_hash       bytea PRIMARY KEY,
    organisation_id  uuid NOT NULL REFERENCES organisations (id),
    nonce_hash       bytea NOT NULL,
    code_verifier    text NOT NULL,
    app_redirect_uri text NOT NULL,
    app_state        text,
    created_at       timestamptz NOT NULL DEFAULT frontline_now(),
    expires_at       timestamptz NOT NULL,
    CONSTRAINT sso_flows_app_state_length CHECK (char_length(app_state) <= 500)
);
CREATE INDEX sso_flows_expires_idx ON sso_flows (expires_at);

-- The one-time code the callback hands the app, exchanged for tokens once (`used_at`), within
-- a minute. Stored hashed. The session it opened is remembered so that a second exchange of
-- the same code ends it (someone else holds the code), as a re-used refresh token does.
CREATE TABLE sso_login_codes (
    code_hash       bytea PRIMARY KEY,
    organisation_id uuid NOT NULL,
    member_id       uuid NOT NULL,
    session_id      uuid,
    created_at      timestamptz NOT NULL DEFAULT frontline_now(),
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    CONSTRAINT sso_login_codes_member_id_fkey FOREIGN KEY (organisation_id, member_id)
        REFERENCES members (organisation_id, id),
    CONSTRAINT sso_login_codes_used CHECK ((used_at IS NULL) = (session_id IS NULL))
);
CREATE INDEX sso_login_codes_expires_idx ON sso_login_codes (expires_at);
