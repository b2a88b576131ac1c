DROP FUNCTION login_delay(integer, integer, bigint, bigint);
DROP TABLE login_attempts;
