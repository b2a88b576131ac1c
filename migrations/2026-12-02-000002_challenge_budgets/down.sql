DROP INDEX challenges_open_idx;
DROP TRIGGER ledger_entries_challenge_tallies ON ledger_entries;
DROP FUNCTION ledger_entries_to_challenge_tallies();
DROP TRIGGER recognition_recipients_challenge_tallies ON recognition_recipients;
DROP FUNCTION recognition_recipients_to_challenge_tallies();
DROP TRIGGER recognitions_challenge_tallies ON recognitions;
DROP FUNCTION recognitions_to_challenge_tallies();
DROP TRIGGER initiative_events_challenge_tallies ON initiative_events;
DROP FUNCTION initiative_events_to_challenge_tallies();
DROP TRIGGER initiatives_challenge_tallies ON initiatives;
DROP FUNCTION initiatives_to_challenge_tallies();
DROP FUNCTION challenge_shard(uuid);
DROP TABLE challenge_tallies;
ALTER TABLE challenges
    DROP CONSTRAINT challenges_cancelled_check,
    DROP CONSTRAINT challenges_cancelled_by_fkey,
    DROP COLUMN cancelled_by,
    DROP COLUMN cancelled_at,
    DROP COLUMN reward_slots,
    DROP COLUMN reserved_period,
    DROP COLUMN reserved_points;
