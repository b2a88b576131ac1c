-- The dominant edges of a window: (giver, recipient) pairs of peer recognitions where the pair
-- carries at least $6 percent of the giver's peer points given in the window, at least $4
-- recognitions and at least $5 points. Read by integrity::queries (and, word for word, by the
-- ring benchmark, scripts/bench-rings).
--
--   $1 organisation (uuid)   $2, $3 the window [starts_at, ends_at) (timestamptz)
--   $4 min recognitions      $5 min points      $6 min share, percent (bigint each)
--
-- One pass: the window's peer recognitions joined with their recipient rows, grouped both by
-- (giver, recipient) and by giver alone (GROUPING SETS, hashed together); HAVING keeps every
-- giver's total and only the pairs over the volume minimums, so what is left to join is small.
-- A recognition to several members costs its giver points_each for each, so a giver's total is
-- the sum over recipient rows. Recipient rows are written in their recognition's transaction,
-- with its time; they are read for the window widened by a day on each side (an index range)
-- and kept when their recognition is in the window.
WITH grouped AS (
    SELECT r.giver_id, rr.member_id AS recipient_id, GROUPING(rr.member_id) AS whole,
           sum(r.points_each)::bigint AS points, count(*) AS recognitions,
           min(r.created_at) AS first_at, max(r.created_at) AS last_at
    FROM recognitions r
    JOIN recognition_recipients rr
      ON rr.organisation_id = r.organisation_id AND rr.recognition_id = r.id
    WHERE r.organisation_id = $1 AND r.kind = 'peer'
      AND r.created_at >= $2 AND r.created_at < $3
      AND rr.organisation_id = $1
      AND rr.created_at >= $2 - interval '1 day' AND rr.created_at < $3 + interval '1 day'
    GROUP BY GROUPING SETS ((r.giver_id, rr.member_id), (r.giver_id))
    HAVING GROUPING(rr.member_id) = 1 OR (count(*) >= $4 AND sum(r.points_each) >= $5)
)
SELECT e.giver_id, e.recipient_id, e.points, e.recognitions, e.first_at, e.last_at,
       g.points AS given
FROM grouped e
JOIN grouped g ON g.giver_id = e.giver_id AND g.whole = 1
WHERE e.whole = 0 AND e.points * 100 >= g.points * $6
ORDER BY e.giver_id, e.recipient_id
