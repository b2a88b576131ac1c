DROP TABLE refresh_tokens;
DROP TABLE sessions;
DROP TABLE member_invites;
DROP TABLE team_memberships;
DROP TABLE members;
DROP TABLE teams;
DROP TABLE organisations;
