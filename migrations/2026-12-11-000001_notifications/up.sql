-- Issue #16: domain events (E0) and the members' notification inbox (A).

-- Levels a member has reached, once each: a level crossed again after a reversal is not
-- "reached" a second time. No backfill: levels already held are not announced.
CREATE TABLE member_levels_reached (
    organisation_id uuid NOT NULL,
    member_id uuid NOT NULL,
    level_points bigint NOT NULL,
    level_name text NOT NULL,
    reached_at timestamptz NOT NULL DEFAULT frontline_now(),
    PRIMARY KEY (member_id, level_points),
    FOREIGN KEY (organisation_id, member_id) REFERENCES members (organisation_id, id)
);

-- One row per member: the last sequence number of their inbox. Its row lock, held to the
-- commit of the transaction that delivers, makes a member's sequence numbers follow commit
-- order with no gap: a stream resuming after `seq` never skips a row committed later.
CREATE TABLE notification_sequences (
    organisation_id uuid NOT NULL,
    member_id uuid PRIMARY KEY,
    last_seq bigint NOT NULL,
    FOREIGN KEY (organisation_id, member_id) REFERENCES members (organisation_id, id)
);

CREATE TABLE notifications (
    organisation_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    member_id uuid NOT NULL,
    seq bigint NOT NULL,
    kind text NOT NULL,
    subject_type text NOT NULL,
    subject_id uuid NOT NULL,
    actor_id uuid,
    -- Ids, numbers and statuses only: names and titles are joined when read.
    data jsonb NOT NULL DEFAULT '{}',
    -- Delivered in the member's quiet hours: in the inbox, but not pushed.
    quiet boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT frontline_now(),
    read_at timestamptz,
    PRIMARY KEY (member_id, seq),
    UNIQUE (organisation_id, id),
    FOREIGN KEY (organisation_id, member_id) REFERENCES members (organisation_id, id)
);
CREATE INDEX notifications_unread_idx ON notifications (member_id, seq) WHERE read_at IS NULL;
CREATE INDEX notifications_age_idx ON notifications (created_at);

-- A member's choice per kind of event (absent: notified).
CREATE TABLE notification_preferences (
    organisation_id uuid NOT NULL,
    member_id uuid NOT NULL,
    kind text NOT NULL,
    enabled boolean NOT NULL,
    PRIMARY KEY (member_id, kind),
    FOREIGN KEY (organisation_id, member_id) REFERENCES members (organisation_id, id)
);

-- A member's quiet hours, in their time zone (NULL: the organisation's).
CREATE TABLE notification_settings (
    organisation_id uuid NOT NULL,
    member_id uuid PRIMARY KEY,
    quiet_start time,
    quiet_end time,
    time_zone text,
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL)),
    FOREIGN KEY (organisation_id, member_id) REFERENCES members (organisation_id, id)
);
