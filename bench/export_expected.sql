-- What an engagement export by month must hold, computed from the ledger and the activity
-- tables (not from the export's code): its number of rows and the sums of its columns, as one
-- JSON line for bench/export_check.py. Run by scripts/bench after each export measurement.
-- docs/exports.md defines the rows: per member, every member who was one during the period
-- (created before it ended, not deactivated before it began) or had activity in it; per team,
-- every team that existed during the period or had activity in it.
-- psql variables: org_id, from, to (first days of months, local; to exclusive), group_by
-- (member or team).

\set ON_ERROR_STOP on
SET work_mem = '256MB';
SET client_min_messages = warning;
BEGIN;
CREATE TEMP TABLE xb ON COMMIT DROP AS
SELECT d::date AS bucket, d AT TIME ZONE o.time_zone AS s, (d + interval '1 month') AT TIME ZONE o.time_zone AS e,
       o.time_zone AS tz
FROM organisations o
CROSS JOIN generate_series(:'from'::timestamp, :'to'::timestamp - interval '1 month', interval '1 month') d
WHERE o.id = :'org_id';
-- Every event the export counts, as (subject, bucket, kind, points): subject is the member, or
-- the team the data records for it (NULL: counted in no team row).
CREATE TEMP TABLE xev ON COMMIT DROP AS
SELECT CASE WHEN :'group_by' = 'member' THEN i.author_id ELSE i.team_id END AS subject,
       date_trunc('month', i.created_at AT TIME ZONE xb.tz)::date AS bucket, 'initiatives_submitted' AS kind, 0::bigint AS points
FROM initiatives i JOIN xb ON i.created_at >= xb.s AND i.created_at < xb.e
WHERE i.organisation_id = :'org_id'
UNION ALL
SELECT CASE WHEN :'group_by' = 'member' THEN i.author_id ELSE i.team_id END, xb.bucket, 'initiatives_' || e.kind, 0
FROM initiative_events e
JOIN initiatives i ON i.organisation_id = e.organisation_id AND i.id = e.initiative_id
JOIN xb ON e.created_at >= xb.s AND e.created_at < xb.e
WHERE e.organisation_id = :'org_id' AND e.kind IN ('approved', 'implemented', 'measured')
UNION ALL
SELECT CASE WHEN :'group_by' = 'member' THEN r.giver_id
            ELSE (SELECT tm.team_id FROM team_memberships tm WHERE tm.organisation_id = r.organisation_id
                  AND tm.member_id = r.giver_id AND tm.started_at <= r.created_at
                  AND (tm.ended_at IS NULL OR tm.ended_at > r.created_at) LIMIT 1) END,
       xb.bucket, 'recognitions_given', 0
FROM recognitions r JOIN xb ON r.created_at >= xb.s AND r.created_at < xb.e
WHERE r.organisation_id = :'org_id'
UNION ALL
SELECT CASE WHEN :'group_by' = 'member' THEN rr.member_id ELSE rr.team_id END, xb.bucket, 'recognitions_received', 0
FROM recognition_recipients rr JOIN xb ON rr.created_at >= xb.s AND rr.created_at < xb.e
WHERE rr.organisation_id = :'org_id'
UNION ALL
SELECT CASE WHEN :'group_by' = 'member' THEN l.member_id ELSE l.team_id END, xb.bucket, 'points_earned', l.points
FROM ledger_entries l JOIN xb ON l.created_at >= xb.s AND l.created_at < xb.e
WHERE l.organisation_id = :'org_id';
DELETE FROM xev WHERE subject IS NULL;
-- The rows: (subject, bucket) pairs.
CREATE TEMP TABLE xrows ON COMMIT DROP AS
SELECT m.id AS subject, xb.bucket FROM members m JOIN xb ON m.created_at < xb.e AND (m.deactivated_at IS NULL OR m.deactivated_at > xb.s)
WHERE m.organisation_id = :'org_id' AND :'group_by' = 'member'
UNION
SELECT t.id, xb.bucket FROM teams t JOIN xb ON t.created_at < xb.e AND (t.archived_at IS NULL OR t.archived_at > xb.s)
WHERE t.organisation_id = :'org_id' AND :'group_by' = 'team'
UNION
SELECT DISTINCT subject, bucket FROM xev;
-- The team whose KPIs a row shows: the member's current team, or the team.
CREATE TEMP TABLE xkpi ON COMMIT DROP AS
SELECT DISTINCT ON (k.team_id, bucket, k.kpi) k.team_id, date_trunc('month', k.period_start::timestamp)::date AS bucket, k.kpi, k.value
FROM team_kpis k
WHERE k.organisation_id = :'org_id' AND k.period_start >= :'from'::date AND k.period_start < :'to'::date
  AND NOT EXISTS (SELECT 1 FROM team_kpis c WHERE c.supersedes = k.id)
ORDER BY k.team_id, bucket, k.kpi, k.period_start DESC, k.recorded_at DESC, k.id DESC;
SELECT json_build_object(
    'rows', (SELECT count(*) FROM xrows),
    'initiatives_submitted', (SELECT count(*) FROM xev WHERE kind = 'initiatives_submitted'),
    'initiatives_approved', (SELECT count(*) FROM xev WHERE kind = 'initiatives_approved'),
    'initiatives_implemented', (SELECT count(*) FROM xev WHERE kind = 'initiatives_implemented'),
    'initiatives_measured', (SELECT count(*) FROM xev WHERE kind = 'initiatives_measured'),
    'recognitions_given', (SELECT count(*) FROM xev WHERE kind = 'recognitions_given'),
    'recognitions_received', (SELECT count(*) FROM xev WHERE kind = 'recognitions_received'),
    'points_earned', (SELECT coalesce(sum(points), 0) FROM xev WHERE kind = 'points_earned'),
    'csat', (SELECT json_build_array(count(k.value), coalesce(sum(k.value), 0))
             FROM xrows x
             LEFT JOIN members m ON :'group_by' = 'member' AND m.organisation_id = :'org_id' AND m.id = x.subject
             JOIN xkpi k ON k.team_id = CASE WHEN :'group_by' = 'member' THEN m.team_id ELSE x.subject END
                        AND k.bucket = x.bucket AND k.kpi = 'csat'),
    'ledger_points_in_range', (SELECT coalesce(sum(l.points), 0) FROM ledger_entries l
                               WHERE l.organisation_id = :'org_id'
                                 AND l.created_at >= (SELECT min(s) FROM xb) AND l.created_at < (SELECT max(e) FROM xb)));
ROLLBACK;
