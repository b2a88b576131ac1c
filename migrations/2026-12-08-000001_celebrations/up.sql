-- Issue #15, celebrations: birthdays and work anniversaries awarded automatically from a
-- company pot and posted to the feed as recognitions without a giver.

-- A member's birthday (day and month only: no year is kept) and the day they started. Feb 29
-- is a real birthday; in other years it is celebrated on Feb 28 (src/celebrations/award.rs).
ALTER TABLE members
    ADD COLUMN birth_month smallint,
    ADD COLUMN birth_day smallint,
    ADD COLUMN started_on date;
ALTER TABLE members ADD CONSTRAINT members_birth_date_check CHECK (
    (birth_month IS NULL) = (birth_day IS NULL)
    AND (birth_month IS NULL OR (birth_month BETWEEN 1 AND 12 AND birth_day BETWEEN 1 AND
        CASE WHEN birth_month = 2 THEN 29 WHEN birth_month IN (4, 6, 9, 11) THEN 30 ELSE 31 END)));
ALTER TABLE members ADD CONSTRAINT members_started_on_check
    CHECK (started_on IS NULL OR started_on >= DATE '1900-01-01');
-- Who celebrates on a given day, per organisation: the award's one look-up per kind.
CREATE INDEX members_birthday_idx ON members (organisation_id, birth_month, birth_day)
    WHERE birth_month IS NOT NULL AND deactivated_at IS NULL;
CREATE INDEX members_anniversary_idx ON members
    (organisation_id, (EXTRACT(MONTH FROM started_on)), (EXTRACT(DAY FROM started_on)))
    WHERE started_on IS NOT NULL AND deactivated_at IS NULL;

-- What each celebration pays (0: none); point rules, changed with PATCH .../point-rules.
ALTER TABLE point_rules
    ADD COLUMN birthday_points integer NOT NULL DEFAULT 0
        CONSTRAINT point_rules_birthday_points_check CHECK (birthday_points BETWEEN 0 AND 1000),
    ADD COLUMN anniversary_points integer NOT NULL DEFAULT 0
        CONSTRAINT point_rules_anniversary_points_check CHECK (anniversary_points BETWEEN 0 AND 1000);

-- A celebration is a recognition of its own kind with no giver (the company pays).
ALTER TABLE recognitions ALTER COLUMN giver_id DROP NOT NULL;

-- The kind and reason lists are extended in place rather than restated, so that a migration
-- of the same issue that adds values of its own (landing before this one) keeps them.
DO $$
DECLARE
    def text;
BEGIN
    SELECT pg_get_constraintdef(oid) INTO STRICT def FROM pg_constraint
        WHERE conrelid = 'recognitions'::regclass AND conname = 'recognitions_kind_check';
    EXECUTE 'ALTER TABLE recognitions DROP CONSTRAINT recognitions_kind_check';
    EXECUTE 'ALTER TABLE recognitions ADD CONSTRAINT recognitions_kind_check '
        || replace(def, 'ARRAY[', 'ARRAY[''celebration''::text, ');
    SELECT pg_get_constraintdef(oid) INTO STRICT def FROM pg_constraint
        WHERE conrelid = 'ledger_entries'::regclass AND conname = 'ledger_entries_reason_check';
    EXECUTE 'ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_reason_check';
    EXECUTE 'ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_reason_check '
        || replace(def, 'ARRAY[', 'ARRAY[''celebration''::text, ');
END $$;
-- Exactly the celebrations have no giver.
ALTER TABLE recognitions ADD CONSTRAINT recognitions_giver_check
    CHECK ((giver_id IS NULL) = (kind = 'celebration'));

-- One award per member, kind and year: the key decides, in the transaction that writes the
-- recognition and its ledger entry, however many processes award at once. The recognition is
-- written after its claim, in the same transaction: hence the deferred reference.
CREATE TABLE celebrations (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    member_id       uuid NOT NULL,
    kind            text NOT NULL,
    -- The organisation's local year of the day celebrated.
    year            integer NOT NULL,
    recognition_id  uuid NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT frontline_now(),
    PRIMARY KEY (member_id, kind, year),
    CONSTRAINT celebrations_kind_check CHECK (kind IN ('birthday', 'work_anniversary')),
    CONSTRAINT celebrations_year_check CHECK (year BETWEEN 1900 AND 9999),
    CONSTRAINT celebrations_member_fkey FOREIGN KEY (organisation_id, member_id)
        REFERENCES members (organisation_id, id),
    CONSTRAINT celebrations_recognition_fkey FOREIGN KEY (organisation_id, recognition_id)
        REFERENCES recognitions (organisation_id, id) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX celebrations_organisation_idx ON celebrations (organisation_id, created_at);

-- recognitions_given counts givers: a celebration has none.
CREATE OR REPLACE FUNCTION recognitions_to_challenge_activity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.giver_id IS NOT NULL
        AND challenge_running(NEW.organisation_id, 'recognitions_given', NEW.created_at) THEN
        INSERT INTO challenge_activity
            (organisation_id, metric, member_id, team_id, dimension, channel, at, amount)
        VALUES (NEW.organisation_id, 'recognitions_given', NEW.giver_id, NULL, NEW.dimension,
                NULL, NEW.created_at, 1);
    END IF;
    RETURN NULL;
END $$;
