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
-- giver's total and only the pairs over the volume minimums, so what is left is small, and a
-- window function hands each pair its giver's total (no join, whatever the estimates).
-- A recognition to several members costs its giver points_each for each, so a giver's total
-- is the sum over recipient rows. Recipient rows are written in their recognition's
-- transaction, with its time; they are read for the window widened by a day on each side (an
-- index range) and kept when their recognition is in the window.
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
), shared AS (
    SELECT grouped.*, max(points) FILTER (WHERE whole = 1) OVER (PARTITION BY giver_id) AS given
    FROM grouped
)
SELECT giver_id, recipient_id, points, recognitions, first_at, last_at, given
FROM shared
WHERE whole = 0 AND points * 100 >= given * $6
ORDER BY giver_id, recipient_id
