DROP TABLE notification_settings;
DROP TABLE notification_preferences;
DROP TABLE notifications;
DROP TABLE notification_sequences;
DROP TABLE member_levels_reached;
