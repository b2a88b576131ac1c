ALTER TABLE initiative_events ALTER COLUMN created_at SET DEFAULT clock_timestamp();
ALTER TABLE initiatives
    ALTER COLUMN created_at SET DEFAULT now(),
    ALTER COLUMN updated_at SET DEFAULT now();
