-- Issue #16, Open Badges 2.0: every awarded badge is a hosted assertion at a stable public URL
-- (src/open_badges). The recipient is a salted SHA-256 of their lower-cased email, so the
-- public document names nobody; erasure revokes the assertion and forgets hash and salt.

CREATE TABLE badge_assertions (
    organisation_id   uuid NOT NULL REFERENCES organisations (id),
    -- Random: the public URL's only key, so assertions cannot be enumerated.
    id                uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    badge_id          uuid NOT NULL,
    member_id         uuid NOT NULL,
    issued_on         timestamptz NOT NULL,
    -- 'sha256$' || hex(sha256(lower(email) || salt)), as Open Badges 2.0's IdentityHash; both
    -- NULL once the recipient is erased (the assertion is revoked then).
    recipient_salt    text,
    recipient_hash    text,
    revoked_at        timestamptz,
    revocation_reason text,
    CONSTRAINT badge_assertions_organisation_id_id_key UNIQUE (organisation_id, id),
    CONSTRAINT badge_assertions_award_key UNIQUE (badge_id, member_id),
    CONSTRAINT badge_assertions_badge_fkey FOREIGN KEY (organisation_id, badge_id) REFERENCES badges (organisation_id, id),
    CONSTRAINT badge_assertions_member_fkey FOREIGN KEY (organisation_id, member_id) REFERENCES members (organisation_id, id),
    CONSTRAINT badge_assertions_recipient_check CHECK ((recipient_salt IS NULL) = (recipient_hash IS NULL)
        AND (recipient_hash IS NULL OR recipient_hash ~ '^sha256\$[0-9a-f]{64}$')),
    -- A recipient is forgotten only together with a revocation.
    CONSTRAINT badge_assertions_forgotten_check CHECK (recipient_hash IS NOT NULL OR revoked_at IS NOT NULL),
    CONSTRAINT badge_assertions_revocation_check CHECK ((revoked_at IS NULL) = (revocation_reason IS NULL)
        AND char_length(revocation_reason) BETWEEN 1 AND 500)
);
CREATE INDEX badge_assertions_member_idx ON badge_assertions (organisation_id, member_id, issued_on);
-- The issuer's revocation list.
CREATE INDEX badge_assertions_revoked_idx ON badge_assertions (organisation_id, revoked_at) WHERE revoked_at IS NOT NULL;

-- Every award, whatever inserts it (earning, challenge completion, any later path), gets its
-- assertion in the award's own transaction. Erased members get none: their email is gone.
CREATE FUNCTION member_badges_to_assertions() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    salt text := replace(gen_random_uuid()::text, '-', '');
BEGIN
    INSERT INTO badge_assertions
        (organisation_id, badge_id, member_id, issued_on, recipient_salt, recipient_hash)
    SELECT NEW.organisation_id, NEW.badge_id, NEW.member_id, NEW.awarded_at, salt,
           'sha256$' || encode(sha256(convert_to(lower(m.email) || salt, 'UTF8')), 'hex')
    FROM members m
    WHERE m.organisation_id = NEW.organisation_id AND m.id = NEW.member_id AND m.erased_at IS NULL
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER member_badges_assertion AFTER INSERT ON member_badges
    FOR EACH ROW EXECUTE FUNCTION member_badges_to_assertions();

-- Awards made before: one assertion each, a salt of its own per row.
INSERT INTO badge_assertions
    (organisation_id, badge_id, member_id, issued_on, recipient_salt, recipient_hash)
SELECT a.organisation_id, a.badge_id, a.member_id, a.awarded_at, a.salt,
       'sha256$' || encode(sha256(convert_to(lower(a.email) || a.salt, 'UTF8')), 'hex')
FROM (SELECT mb.organisation_id, mb.badge_id, mb.member_id, mb.awarded_at, m.email,
             replace(gen_random_uuid()::text, '-', '') AS salt
      FROM member_badges mb
      JOIN members m ON m.organisation_id = mb.organisation_id AND m.id = mb.member_id
      WHERE m.erased_at IS NULL) a
ON CONFLICT DO NOTHING;

-- A badge's image, uploaded by an admin (PNG or SVG, checked in src/open_badges/images.rs);
-- without one, a placeholder SVG is served.
CREATE TABLE badge_images (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    badge_id        uuid NOT NULL PRIMARY KEY,
    content_type    text NOT NULL CHECK (content_type IN ('image/png', 'image/svg+xml')),
    bytes           bytea NOT NULL CHECK (octet_length(bytes) BETWEEN 1 AND 262144),
    sha256          bytea NOT NULL CHECK (octet_length(sha256) = 32),
    updated_at      timestamptz NOT NULL DEFAULT frontline_now(),
    CONSTRAINT badge_images_badge_fkey FOREIGN KEY (organisation_id, badge_id) REFERENCES badges (organisation_id, id)
);

-- The Issuer profile's email (Open Badges requires one); unset, the first active admin's.
ALTER TABLE organisations ADD COLUMN badge_contact_email text
    CONSTRAINT organisations_badge_contact_email_check
    CHECK (badge_contact_email IS NULL OR char_length(badge_contact_email) BETWEEN 3 AND 254);

-- The audit actions are extended in place, so migrations of the same issue landing in any
-- order keep each other's values.
DO $$
DECLARE
    def text;
BEGIN
    SELECT pg_get_constraintdef(oid) INTO STRICT def FROM pg_constraint
        WHERE conrelid = 'audit_log'::regclass AND conname = 'audit_log_action_check';
    EXECUTE 'ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check';
    EXECUTE 'ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check '
        || replace(def, 'ARRAY[', 'ARRAY[''badge_image_changed''::text, ''badge_assertion_revoked''::text, ');
END $$;
