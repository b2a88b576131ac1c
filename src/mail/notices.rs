//! Notices a member gets when what signs them in changes: their password (whoever changed it)
//! or their email address (told at the address they had, which is where a hijacker would not
//! look). Queued in the transaction of the change.

use chrono::Utc;
use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use super::kinds::EmailKind;
use super::mailer::Mail;
use super::outbox::{self, Letter};
use crate::error::AppResult;

pub async fn password_changed(
    conn: &mut AsyncPgConnection,
    mail: &Mail,
    org: Uuid,
    member: Uuid,
) -> AppResult<()> {
    let letter = Letter {
        kind: EmailKind::PasswordChanged,
        organisation_id: org,
        member_id: member,
        to: None,
        dedupe_key: None,
    };
    let when = Utc::now();
    outbox::queue(conn, mail, letter, |r| {
        minijinja::context! { when => r.local(when) }
    })
    .await?;
    Ok(())
}

/// `member`'s address changed from `old` to `new`: tell `old`.
pub async fn email_changed(
    conn: &mut AsyncPgConnection,
    mail: &Mail,
    org: Uuid,
    member: Uuid,
    old: &str,
    new: &str,
) -> AppResult<()> {
    if old.eq_ignore_ascii_case(new) {
        return Ok(());
    }
    let letter = Letter {
        kind: EmailKind::EmailChanged,
        organisation_id: org,
        member_id: member,
        to: Some(old.to_string()),
        dedupe_key: None,
    };
    let when = Utc::now();
    let shown = partly_hidden(new);
    outbox::queue(conn, mail, letter, |r| {
        minijinja::context! { new_email => shown, when => r.local(when) }
    })
    .await?;
    Ok(())
}

/// `pia.hansen@acme.example` as `p***@acme.example`: enough for the owner to recognise, too
/// little to hand whoever reads the old mailbox the new one.
fn partly_hidden(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_new_address_is_shown_partly_hidden() {
        assert_eq!(
            super::partly_hidden("pia.hansen@acme.example"),
            "p***@acme.example"
        );
        assert_eq!(super::partly_hidden("nope"), "***");
    }
}
