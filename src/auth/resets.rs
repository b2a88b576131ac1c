//! Password reset by email: a member who forgot their password asks for a code, which is
//! emailed to them and sets a new password once (within `password_reset_ttl_minutes`).
//!
//! The answer never tells whether an account exists: whatever the organisation, email or
//! number, and whether or not anything is sent, it is the same `202`. Requests count against
//! the address's login budget (so one address cannot probe or spam without limit), and each
//! account is sent at most `password_resets_per_account` codes per window; past that the
//! answer is the same and nothing is sent (nobody's inbox can be flooded through us).
//! With email off (no `mail_smtp_url`) every request is refused alike: a reset is then an
//! admin's new invite.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::accounts::{Identifier, parse_account};
use super::client_addr::ClientAddr;
use super::rate_limit::{Key, LoginThrottle};
use super::sso_policy::{self, By};
use super::{AuthPolicy, PasswordResetRequest, Role, tokens};
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::http::check;
use crate::mail::outbox::{self, Letter};
use crate::mail::{EmailKind, Mail};
use crate::schema::{member_invites, members, organisations};

/// The answer to every reset request.
pub const REQUESTED: &str = "if an account matches, a reset code is on its way to its email address; it works once, for a short while";

/// Handle a reset request: email a code if an active account matches and its budget allows.
pub async fn request(
    db: &Db,
    mail: &Mail,
    throttle: &LoginThrottle,
    policy: &AuthPolicy,
    client: ClientAddr,
    req: PasswordResetRequest,
) -> AppResult<()> {
    let mut errors = Vec::new();
    let (slug, who) = parse_account(
        &req.organisation,
        req.email.as_deref(),
        req.employee_number.as_deref(),
        &mut errors,
    );
    check(errors)?;
    if !mail.enabled() {
        return Err(AppError::conflict(
            "this server sends no email: ask an administrator for a new invite to set a password",
        ));
    }
    let address = Key::address(client.0);
    throttle.refused_lately(&address)?;
    let mut conn = db.conn().await?;
    // Every request spends an attempt of the address's login budget, and keeps it.
    throttle.reserve(&mut conn, &address).await?;
    let Some((org, member, role)) = find(&mut conn, &slug, &who).await? else {
        return Ok(());
    };
    // Where single sign-on is required a password opens nothing (but a break-glass admin's):
    // no code is sent, and the answer is the same.
    if sso_policy::check(&mut conn, org, member, role, By::Password)
        .await
        .is_err()
    {
        return Ok(());
    }
    if throttle
        .reserve(&mut conn, &Key::reset(member))
        .await
        .is_err()
    {
        tracing::info!(member_id = %member, "password reset not sent: the account's budget is spent");
        return Ok(());
    }
    let ttl = policy.reset_ttl;
    conn.transaction::<_, AppError, _>(async move |conn| {
        let (token, hash) = tokens::new_opaque_token("frst");
        let expires_at = Utc::now() + ttl;
        // The newest code is the one that works.
        diesel::update(
            member_invites::table
                .filter(member_invites::organisation_id.eq(org))
                .filter(member_invites::member_id.eq(member))
                .filter(member_invites::purpose.eq("reset"))
                .filter(member_invites::used_at.is_null()),
        )
        .set(member_invites::expires_at.eq(Utc::now()))
        .execute(conn)
        .await?;
        diesel::insert_into(member_invites::table)
            .values((
                member_invites::organisation_id.eq(org),
                member_invites::member_id.eq(member),
                member_invites::token_hash.eq(hash),
                member_invites::expires_at.eq(expires_at),
                member_invites::purpose.eq("reset"),
            ))
            .execute(conn)
            .await?;
        let letter = Letter {
            kind: EmailKind::PasswordReset,
            organisation_id: org,
            member_id: member,
            to: None,
            dedupe_key: None,
        };
        let link = mail.link("/reset-password", Some(&token));
        outbox::queue(conn, mail, letter, |_| {
            minijinja::context! { token => token, link => link, minutes => ttl.num_minutes() }
        })
        .await
    })
    .await?;
    tracing::info!(organisation_id = %org, member_id = %member, "password reset emailed");
    Ok(())
}

/// The active member `who` names in organisation `slug`: (organisation, member, role).
async fn find(
    conn: &mut AsyncPgConnection,
    slug: &str,
    who: &Identifier,
) -> AppResult<Option<(Uuid, Uuid, Role)>> {
    let mut query = members::table
        .inner_join(organisations::table)
        .filter(organisations::slug.eq(slug))
        .filter(members::deactivated_at.is_null())
        .filter(members::erased_at.is_null())
        .into_boxed();
    query = match who {
        Identifier::Email(email) => query.filter(members::email.eq(email)),
        Identifier::EmployeeNumber(number) => {
            query.filter(crate::sql::upper(members::employee_number).eq(number))
        }
    };
    let found: Option<(Uuid, Uuid, String)> = query
        .select((members::organisation_id, members::id, members::role))
        .first(conn)
        .await
        .optional()?;
    Ok(found.and_then(|(org, member, role)| Some((org, member, Role::parse(&role)?))))
}
