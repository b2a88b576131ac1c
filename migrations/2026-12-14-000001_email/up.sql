-- Issue #17, email (src/mail): invites, password resets, change notices and the team leads'
-- weekly digest are written to an outbox in the transaction of their change and sent over SMTP
-- by a worker in every server process (leases taken with SKIP LOCKED, as webhooks do). A
-- rolled-back change leaves no message; a process that dies mid-send leaves the message to the
-- next once its lease runs out.

DO $$
DECLARE
    def text;
BEGIN
    SELECT pg_get_constraintdef(oid) INTO STRICT def FROM pg_constraint
        WHERE conrelid = 'audit_log'::regclass AND conname = 'audit_log_action_check';
    EXECUTE 'ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check';
    EXECUTE 'ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check '
        || replace(def, 'ARRAY[', 'ARRAY[''password_reset''::text, ');
END $$;

-- The language of the organisation's emails (English and Norwegian Bokmål to start), and
-- whether its team leads get a weekly digest of their team's week.
ALTER TABLE organisations
    ADD COLUMN language text NOT NULL DEFAULT 'en'
        CONSTRAINT organisations_language_check CHECK (language IN ('en', 'nb')),
    ADD COLUMN weekly_lead_digest boolean NOT NULL DEFAULT false;

-- A password reset is a short-lived invite a member asked for themself: the same single-use,
-- hashed token, consumed the same way, told apart so that neither endpoint takes the other's.
ALTER TABLE member_invites
    ADD COLUMN purpose text NOT NULL DEFAULT 'invite'
        CONSTRAINT member_invites_purpose_check CHECK (purpose IN ('invite', 'reset'));

-- The outbox. Bodies are rendered when the message is queued (in the organisation's language)
-- and cleared once it is sent or given up on: an invite's or a reset's token is in them, and a
-- sent email needs no second copy here. What stays is the log an admin reads: who, what kind,
-- when, how it went.
-- `dedupe_key`: a message that must go once however many processes decide to send it (a
-- lead's digest for a week).
CREATE TABLE email_messages (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    member_id       uuid,
    kind            text NOT NULL,
    to_address      text NOT NULL,
    subject         text NOT NULL,
    body_text       text,
    body_html       text,
    dedupe_key      text,
    status          text NOT NULL DEFAULT 'pending',
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT frontline_now(),
    leased_until    timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT frontline_now(),
    sent_at         timestamptz,
    CONSTRAINT email_messages_member_fkey FOREIGN KEY (organisation_id, member_id)
        REFERENCES members (organisation_id, id),
    CONSTRAINT email_messages_kind_check CHECK (kind IN
        ('invite', 'password_reset', 'password_changed', 'email_changed', 'weekly_digest')),
    CONSTRAINT email_messages_status_check CHECK (status IN ('pending', 'sent', 'failed')),
    CONSTRAINT email_messages_to_length CHECK (char_length(to_address) BETWEEN 3 AND 320),
    CONSTRAINT email_messages_subject_length CHECK (char_length(subject) BETWEEN 1 AND 300),
    CONSTRAINT email_messages_bodies CHECK ((status = 'pending') = (body_text IS NOT NULL)),
    CONSTRAINT email_messages_dedupe_key UNIQUE (dedupe_key)
);
CREATE INDEX email_messages_due_idx ON email_messages (next_attempt_at) WHERE status = 'pending';
CREATE INDEX email_messages_org_idx ON email_messages (organisation_id, created_at DESC);
CREATE INDEX email_messages_member_idx ON email_messages (organisation_id, member_id);
