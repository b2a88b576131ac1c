-- Login throttling, shared by every server process on this database.
--
-- One row per throttled key: the SHA-256 of "address:<IPv4 or IPv6 /64>",
-- "account:<slug>:<email>" or "member:<id>" (fixed size, and no email at rest). An attempt is
-- reserved before its password is hashed, with one INSERT ... ON CONFLICT DO UPDATE ... WHERE
-- that takes the row's lock, so concurrent guesses cannot all pass the check. A key that has
-- been quiet for the window starts again from nothing; such rows are purged.
CREATE TABLE login_attempts (
    key bytea PRIMARY KEY CHECK (octet_length(key) = 32),
    -- Attempts reserved since the key was last quiet for a whole window (refused ones do not
    -- count; a successful login gives its attempt back).
    attempts integer NOT NULL CHECK (attempts >= 0),
    last_attempt_at timestamptz NOT NULL,
    -- The next attempt is refused before this time; NULL: no wait.
    next_attempt_at timestamptz
);
CREATE INDEX login_attempts_last_attempt_at ON login_attempts (last_attempt_at);

-- The wait after the `attempts`-th attempt: none while fewer than `free`, then `base_ms`
-- doubling with every further attempt, at most `max_ms`.
CREATE FUNCTION login_delay(attempts integer, free integer, base_ms bigint, max_ms bigint)
RETURNS interval LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN attempts < free THEN NULL
                ELSE least(base_ms::numeric * power(2::numeric, least(attempts - free, 40)), max_ms)
                     * interval '1 millisecond'
           END
$$;
