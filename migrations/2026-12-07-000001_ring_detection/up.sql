-- Ring detection (GET /api/v1/integrity/rings) aggregates a window's peer recognitions by giver
-- and recipient: one join of the window's peer recognitions with their recipient rows. Both
-- sides are read from covering indexes by (organisation, time), so neither table's heap is
-- visited for rows the visibility map knows to be visible.

-- Peer recognitions only: lead and admin recognitions spend no allowance and are never part of
-- a ring.
CREATE INDEX recognitions_peer_window_idx ON recognitions (organisation_id, created_at)
    INCLUDE (id, giver_id, points_each) WHERE kind = 'peer';

-- The same key as before (analytics, challenge progress and exports read recipients by
-- organisation and time), now carrying the recognition and the recipient.
DROP INDEX recognition_recipients_org_created_idx;
CREATE INDEX recognition_recipients_org_created_idx ON recognition_recipients (organisation_id, created_at)
    INCLUDE (recognition_id, member_id);
