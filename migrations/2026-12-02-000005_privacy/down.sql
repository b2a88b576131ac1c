DROP INDEX audit_log_actor_idx;
DROP INDEX team_kpis_recorded_by_idx;
DROP INDEX ledger_entries_created_by_idx;
CREATE OR REPLACE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'initiative_events'
       AND current_setting('frontline.erasure', true) = 'on' THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'raise_exception';
END $$;
