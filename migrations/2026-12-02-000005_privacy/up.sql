-- Issue #12, item 12: erasure blanks what the member wrote, including notes on rows that are
-- otherwise append-only: ledger entries they created (adjustments, reversals), KPI values they
-- recorded, timeline events they acted in, and the note of a KPI correction that its audit
-- entry quotes. The erasure transaction sets frontline.erasure = 'on'; even then only the
-- `note` column (in the audit log: the `note` member of `details`) may change, so the erasure
-- can never alter a point, a KPI value, a status or what the audit log says was done.
CREATE OR REPLACE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('frontline.erasure', true) = 'on' THEN
        IF TG_TABLE_NAME IN ('initiative_events', 'ledger_entries', 'team_kpis')
           AND (to_jsonb(NEW) - 'note') = (to_jsonb(OLD) - 'note') THEN
            RETURN NEW;
        END IF;
        IF TG_TABLE_NAME = 'audit_log'
           AND (to_jsonb(NEW) - 'details') = (to_jsonb(OLD) - 'details')
           AND (to_jsonb(NEW) -> 'details') - 'note' = (to_jsonb(OLD) -> 'details') - 'note' THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'raise_exception';
END $$;

-- Erasure finds the ledger entries and KPI values a member created by these columns.
CREATE INDEX ledger_entries_created_by_idx ON ledger_entries (organisation_id, created_by)
    WHERE created_by IS NOT NULL;
CREATE INDEX team_kpis_recorded_by_idx ON team_kpis (organisation_id, recorded_by)
    WHERE recorded_by IS NOT NULL;
-- What a member did, for my data and for erasure.
CREATE INDEX audit_log_actor_idx ON audit_log (organisation_id, actor_member_id)
    WHERE actor_member_id IS NOT NULL;
