//! The words of email: what an email is for, and the languages it can be written in.

use crate::vocabulary::vocabulary;

vocabulary!(
    /// What an email is for.
    EmailKind {
        Invite = "invite",
        PasswordReset = "password_reset",
        PasswordChanged = "password_changed",
        EmailChanged = "email_changed",
        WeeklyDigest = "weekly_digest",
    }
    field = "kind"
);

vocabulary!(
    /// The language of an organisation's emails.
    Language {
        English = "en",
        /// Norwegian (Bokmål).
        Norwegian = "nb",
    }
    field = "language"
);
