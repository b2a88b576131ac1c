-- Foundation: organisations (tenants), teams, members, team history, invites and sessions.
--
-- Tenant isolation lives in the database, not only in Rust: every tenant table carries
-- organisation_id, exposes UNIQUE (organisation_id, id), and every reference between tenant
-- tables is a composite foreign key that includes organisation_id. A row of organisation A can
-- therefore never point at a row of organisation B, whatever a query forgets.

CREATE TABLE organisations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug        text NOT NULL,
    name        text NOT NULL,
    time_zone   text NOT NULL DEFAULT 'UTC',
    -- Mandate on: staff are trusted to act, initiatives are approved on submission.
    mandate     boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT organisations_slug_format CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    CONSTRAINT organisations_name_length CHECK (char_length(btrim(name)) BETWEEN 1 AND 200),
    CONSTRAINT organisations_time_zone_present CHECK (char_length(time_zone) BETWEEN 1 AND 64)
);
CREATE UNIQUE INDEX organisations_slug_key ON organisations (slug);

CREATE TABLE teams (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    name            text NOT NULL,
    archived_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT teams_organisation_id_id_key UNIQUE (organisation_id, id),
    CONSTRAINT teams_name_length CHECK (char_length(btrim(name)) BETWEEN 1 AND 120)
);
-- Two live teams of one organisation may not share a name; archived ones free theirs.
CREATE UNIQUE INDEX teams_live_name_key ON teams (organisation_id, lower(name)) WHERE archived_at IS NULL;
CREATE INDEX teams_listing_idx ON teams (organisation_id, lower(name), id);

CREATE TABLE members (
    organisation_id     uuid NOT NULL REFERENCES organisations (id),
    id                  uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    email               text NOT NULL,
    display_name        text NOT NULL,
    role                text NOT NULL,
    team_id             uuid,
    -- NULL until the member accepts an invite and chooses a password.
    password_hash       text,
    deactivated_at      timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT members_organisation_id_id_key UNIQUE (organisation_id, id),
    CONSTRAINT members_email_key UNIQUE (organisation_id, email),
    CONSTRAINT members_team_fkey FOREIGN KEY (organisation_id, team_id) REFERENCES teams (organisation_id, id),
    CONSTRAINT members_role_check CHECK (role IN ('employee', 'team_lead', 'hr', 'admin')),
    CONSTRAINT members_email_format CHECK (email = lower(email) AND email ~ '^[^@\s]+@[^@\s]+$' AND char_length(email) <= 254),
    CONSTRAINT members_display_name_length CHECK (char_length(btrim(display_name)) BETWEEN 1 AND 120)
);
CREATE INDEX members_team_idx ON members (organisation_id, team_id);
CREATE INDEX members_listing_idx ON members (organisation_id, lower(display_name), id);

-- Moves between teams are history, not overwrites: one row per stint in a team.
CREATE TABLE team_memberships (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    member_id       uuid NOT NULL,
    team_id         uuid NOT NULL,
    started_at      timestamptz NOT NULL DEFAULT now(),
    ended_at        timestamptz,
    -- Who made the move (an admin), NULL for moves made by the system (bootstrap, demo).
    moved_by        uuid,
    CONSTRAINT team_memberships_member_fkey FOREIGN KEY (organisation_id, member_id) REFERENCES members (organisation_id, id),
    CONSTRAINT team_memberships_team_fkey FOREIGN KEY (organisation_id, team_id) REFERENCES teams (organisation_id, id),
    CONSTRAINT team_memberships_moved_by_fkey FOREIGN KEY (organisation_id, moved_by) REFERENCES members (organisation_id, id),
    CONSTRAINT team_memberships_period CHECK (ended_at IS NULL OR ended_at >= started_at)
);
CREATE UNIQUE INDEX team_memberships_one_open ON team_memberships (member_id) WHERE ended_at IS NULL;
CREATE INDEX team_memberships_member_idx ON team_memberships (organisation_id, member_id, started_at);

-- Invite tokens let a member choose their first password. Only a hash is stored.
CREATE TABLE member_invites (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    member_id       uuid NOT NULL,
    token_hash      bytea NOT NULL,
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT member_invites_member_fkey FOREIGN KEY (organisation_id, member_id) REFERENCES members (organisation_id, id)
);
CREATE UNIQUE INDEX member_invites_token_hash_key ON member_invites (token_hash);

-- A session is one login: the family of refresh tokens issued from it. Access tokens carry
-- the session id, so revoking a session cuts its access tokens off at once.
CREATE TABLE sessions (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    member_id       uuid NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_used_at    timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    revoked_reason  text,
    CONSTRAINT sessions_organisation_id_id_key UNIQUE (organisation_id, id),
    CONSTRAINT sessions_member_fkey FOREIGN KEY (organisation_id, member_id) REFERENCES members (organisation_id, id)
);
CREATE INDEX sessions_member_idx ON sessions (organisation_id, member_id) WHERE revoked_at IS NULL;

-- Refresh tokens are opaque and single-use; a used one that comes back is a stolen one.
CREATE TABLE refresh_tokens (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    session_id      uuid NOT NULL,
    token_hash      bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    CONSTRAINT refresh_tokens_session_fkey FOREIGN KEY (organisation_id, session_id) REFERENCES sessions (organisation_id, id)
);
CREATE UNIQUE INDEX refresh_tokens_token_hash_key ON refresh_tokens (token_hash);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);
