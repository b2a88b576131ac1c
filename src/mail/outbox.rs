//! Queuing email: rendered for its recipient and written in the caller's transaction, so it
//! goes out only if the change it tells of commits. Nothing is queued while email is off.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use minijinja::Value;
use uuid::Uuid;

use super::kinds::{EmailKind, Language};
use super::mailer::Mail;
use super::templates::{self, Rendered};
use crate::error::{AppError, AppResult};
use crate::schema::{email_messages, members, organisations};

/// Who an email is for, with what its text needs of them and their organisation.
pub struct Recipient {
    pub organisation: String,
    pub language: Language,
    pub time_zone: Tz,
    pub name: String,
    pub email: String,
}

impl Recipient {
    /// `at` as the organisation's clocks show it, e.g. `2026-12-04 09:30 (Europe/Oslo)`.
    pub fn local(&self, at: DateTime<Utc>) -> String {
        format!(
            "{} ({})",
            at.with_timezone(&self.time_zone).format("%Y-%m-%d %H:%M"),
            self.time_zone.name()
        )
    }
}

/// An email to a member.
pub struct Letter {
    pub kind: EmailKind,
    pub organisation_id: Uuid,
    pub member_id: Uuid,
    /// Another address than the member's (a notice to the address they had before).
    pub to: Option<String>,
    /// Sent once however often it is queued (a lead's digest for a week).
    pub dedupe_key: Option<String>,
}

/// Render `letter` for its member, with the values `values` makes of them, and queue it in
/// the caller's transaction. Nothing when email is off, or the member is erased or
/// deactivated (who can no longer sign in needs no invite, reset or notice). True when
/// queued (false also when its `dedupe_key` was queued before).
pub async fn queue(
    conn: &mut AsyncPgConnection,
    mail: &Mail,
    letter: Letter,
    values: impl FnOnce(&Recipient) -> Value,
) -> AppResult<bool> {
    if !mail.enabled() {
        return Ok(false);
    }
    let Some(recipient) = recipient(conn, letter.organisation_id, letter.member_id).await? else {
        return Ok(false);
    };
    let values = values(&recipient);
    let Rendered {
        subject,
        text,
        html,
    } = templates::render(
        letter.kind,
        recipient.language,
        &recipient.organisation,
        &recipient.name,
        values,
    )
    .map_err(|e| {
        tracing::error!(kind = %letter.kind, error = %e, "an email template failed to render");
        AppError::internal("an email template failed to render")
    })?;
    let to = letter.to.unwrap_or(recipient.email);
    let queued = diesel::insert_into(email_messages::table)
        .values((
            email_messages::organisation_id.eq(letter.organisation_id),
            email_messages::member_id.eq(letter.member_id),
            email_messages::kind.eq(letter.kind.as_str()),
            email_messages::to_address.eq(to),
            email_messages::subject.eq(subject),
            email_messages::body_text.eq(text),
            email_messages::body_html.eq(html),
            email_messages::dedupe_key.eq(letter.dedupe_key),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    if queued > 0 {
        super::sender::nudge();
    }
    Ok(queued > 0)
}

async fn recipient(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
) -> AppResult<Option<Recipient>> {
    let row: Option<(String, String, String, String, String)> = members::table
        .inner_join(organisations::table)
        .filter(members::organisation_id.eq(org))
        .filter(members::id.eq(member))
        .filter(members::erased_at.is_null())
        .filter(members::deactivated_at.is_null())
        .select((
            organisations::name,
            organisations::language,
            organisations::time_zone,
            members::display_name,
            members::email,
        ))
        .first(conn)
        .await
        .optional()?;
    Ok(
        row.map(|(organisation, language, zone, name, email)| Recipient {
            organisation,
            language: Language::parse(&language).unwrap_or(Language::English),
            time_zone: zone.parse().unwrap_or(Tz::UTC),
            name,
            email,
        }),
    )
}

/// Forget the member's email (erasure): their address is personal data.
pub async fn forget(conn: &mut AsyncPgConnection, org: Uuid, member: Uuid) -> AppResult<()> {
    diesel::delete(
        email_messages::table
            .filter(email_messages::organisation_id.eq(org))
            .filter(email_messages::member_id.eq(member)),
    )
    .execute(conn)
    .await?;
    Ok(())
}
