//! Email (issue #17): invites, password resets, notices when a password or an email address
//! changes, and the team leads' weekly digest.
//!
//! **Off by default.** With no `mail_smtp_url` nothing is queued and the API answers with
//! invite tokens, as it did before email. With one, what must be emailed is rendered (in the
//! organisation's language) and written to the outbox (`email_messages`) in the transaction
//! of its change ([`outbox::queue`]): a rolled-back change sends nothing. A sender in every
//! process ([`sender`]) leases due messages with `FOR UPDATE SKIP LOCKED`, speaks SMTP and
//! retries on a schedule, so a restart loses nothing and several processes send each message
//! once (at least once if a process dies mid-send: SMTP has no way to ask whether a message
//! arrived).

pub mod digest;
pub mod kinds;
pub mod mailer;
pub mod notices;
pub mod outbox;
pub mod routes;
pub mod sender;
pub mod templates;

use rocket::fairing::AdHoc;
use rocket::{Build, Rocket};

use crate::config::{ConfigError, Settings};
use crate::db::Db;

pub use kinds::{EmailKind, Language};
pub use mailer::Mail;

/// Manage [`Mail`] and, when email is configured, start this process's sender and digest
/// scheduler. Refuses settings that cannot send (no sender address, an SMTP URL that does not
/// parse, an unreadable CA file).
pub fn stage(rocket: Rocket<Build>, settings: &Settings) -> Result<Rocket<Build>, ConfigError> {
    let Some(transport) = sender::Transport::from_settings(settings)? else {
        return Ok(rocket.manage(Mail::off()));
    };
    let app_url = match settings.mail_app_url.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
            Some(url.trim_end_matches('/').to_string())
        }
        Some(_) => {
            return Err(ConfigError::Mail(
                "mail_app_url must be an http(s) URL, e.g. https://app.example.com".into(),
            ));
        }
    };
    let mail = Mail::on(app_url);
    let run = settings.mail_delivery;
    let digest_every = std::time::Duration::from_secs(settings.mail_digest_check_secs.max(1));
    let digest_mail = mail.clone();
    Ok(rocket
        .manage(mail)
        .attach(AdHoc::on_liftoff("email sender", move |rocket| {
            Box::pin(async move {
                if run && let Some(db) = rocket.state::<Db>().cloned() {
                    sender::start(db.clone(), transport);
                    digest::start(db, digest_mail, digest_every);
                }
            })
        })))
}
