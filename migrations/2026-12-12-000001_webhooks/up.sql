-- Issue #16, webhooks (src/webhooks): admins register endpoints; every event of their types is
-- written to an outbox in the transaction of its change, and delivered by a worker in every
-- server process (leases taken with SKIP LOCKED, so several processes share the work and a
-- process that dies mid-delivery leaves the message to the next once its lease runs out).

DO $$
DECLARE
    def text;
BEGIN
    SELECT pg_get_constraintdef(oid) INTO STRICT def FROM pg_constraint
        WHERE conrelid = 'audit_log'::regclass AND conname = 'audit_log_action_check';
    EXECUTE 'ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check';
    EXECUTE 'ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check '
        || replace(def, 'ARRAY[', 'ARRAY[''webhook_created''::text, ''webhook_changed''::text, '
            || '''webhook_deleted''::text, ''webhook_secret_rotated''::text, ''webhook_disabled''::text, ');
END $$;

-- `secret`: the signing key's bytes (the server must hold them to sign; shown to the admin
-- once). After a rotation the previous key keeps signing beside the new one until
-- `previous_secret_until`, so a receiver can switch without losing a delivery.
-- `failing_since`: the first failed attempt since the last success; a worker disables the
-- endpoint once it has failed for `webhook_disable_after_hours` (`disabled_reason` 'failing'),
-- or at once when the receiver answers 410 Gone ('gone'); an admin's switch is 'admin'.
CREATE TABLE webhook_endpoints (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organisation_id       uuid NOT NULL REFERENCES organisations (id),
    url                   text NOT NULL,
    description           text NOT NULL DEFAULT '',
    event_types           text[] NOT NULL,
    format                text NOT NULL DEFAULT 'standard',
    secret                bytea NOT NULL,
    previous_secret       bytea,
    previous_secret_until timestamptz,
    enabled               boolean NOT NULL DEFAULT true,
    disabled_reason       text,
    disabled_at           timestamptz,
    failing_since         timestamptz,
    created_by            uuid NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT frontline_now(),
    updated_at            timestamptz NOT NULL DEFAULT frontline_now(),
    CONSTRAINT webhook_endpoints_org_id_key UNIQUE (organisation_id, id),
    CONSTRAINT webhook_endpoints_creator_fkey FOREIGN KEY (organisation_id, created_by)
        REFERENCES members (organisation_id, id),
    CONSTRAINT webhook_endpoints_url_length CHECK (char_length(url) BETWEEN 1 AND 2000),
    CONSTRAINT webhook_endpoints_description_length CHECK (char_length(description) <= 200),
    CONSTRAINT webhook_endpoints_event_types_given CHECK (cardinality(event_types) BETWEEN 1 AND 64),
    CONSTRAINT webhook_endpoints_format_check CHECK (format IN ('standard', 'slack', 'teams')),
    CONSTRAINT webhook_endpoints_secret_length CHECK (octet_length(secret) BETWEEN 24 AND 64),
    CONSTRAINT webhook_endpoints_disabled_reason_check
        CHECK (disabled_reason IN ('admin', 'failing', 'gone')),
    CONSTRAINT webhook_endpoints_disabled_state
        CHECK (enabled = (disabled_reason IS NULL) AND enabled = (disabled_at IS NULL))
);
CREATE INDEX webhook_endpoints_org_idx ON webhook_endpoints (organisation_id, created_at);

-- The outbox: one message per event per endpoint, written with the change. The event is kept
-- thin (ids, numbers, statuses; `data` as the inbox has it): names and titles are read when
-- the message is sent, so an erased member's name never leaves after the erasure.
-- `status`: pending (to send, `next_attempt_at` on), delivered, failed (the retry schedule ran
-- out; an admin may redeliver). `leased_until`: a worker is sending it; another takes it only
-- after that (the first worker died).
CREATE TABLE webhook_messages (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organisation_id uuid NOT NULL,
    endpoint_id     uuid NOT NULL,
    event_type      text NOT NULL,
    subject_type    text NOT NULL,
    subject_id      uuid NOT NULL,
    actor_id        uuid,
    member_ids      uuid[] NOT NULL,
    data            jsonb NOT NULL,
    occurred_at     timestamptz NOT NULL DEFAULT frontline_now(),
    status          text NOT NULL DEFAULT 'pending',
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT frontline_now(),
    leased_until    timestamptz,
    delivered_at    timestamptz,
    CONSTRAINT webhook_messages_endpoint_fkey FOREIGN KEY (organisation_id, endpoint_id)
        REFERENCES webhook_endpoints (organisation_id, id) ON DELETE CASCADE,
    CONSTRAINT webhook_messages_status_check CHECK (status IN ('pending', 'delivered', 'failed')),
    CONSTRAINT webhook_messages_data_object CHECK (jsonb_typeof(data) = 'object')
);
-- What the workers look for, oldest due first.
CREATE INDEX webhook_messages_due_idx ON webhook_messages (next_attempt_at) WHERE status = 'pending';
-- An endpoint's messages, newest first (the admins' log), and its backlog.
CREATE INDEX webhook_messages_endpoint_idx ON webhook_messages (endpoint_id, occurred_at DESC, id DESC);

-- The delivery log: every attempt with what the receiver answered (or why nothing was).
CREATE TABLE webhook_attempts (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organisation_id uuid NOT NULL,
    endpoint_id     uuid NOT NULL,
    message_id      uuid NOT NULL REFERENCES webhook_messages (id) ON DELETE CASCADE,
    attempted_at    timestamptz NOT NULL DEFAULT frontline_now(),
    status_code     integer,
    error           text,
    response        text NOT NULL DEFAULT '',
    duration_ms     integer NOT NULL,
    CONSTRAINT webhook_attempts_endpoint_fkey FOREIGN KEY (organisation_id, endpoint_id)
        REFERENCES webhook_endpoints (organisation_id, id) ON DELETE CASCADE,
    CONSTRAINT webhook_attempts_answer CHECK (status_code IS NOT NULL OR error IS NOT NULL)
);
CREATE INDEX webhook_attempts_endpoint_idx ON webhook_attempts (endpoint_id, attempted_at DESC, id DESC);
CREATE INDEX webhook_attempts_message_idx ON webhook_attempts (message_id);
