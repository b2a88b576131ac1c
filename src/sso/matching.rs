//! Who an identity the provider vouched for is in the organisation:
//!
//! 1. the member holding its subject (`members.sso_subject`, unique per organisation);
//! 2. on a first sign-in, where the organisation allows it, the member with its email when the
//!    provider says the email is verified and that member holds no other subject: the subject
//!    is then stored (audited `sso_linked`), so the email never matters again;
//! 3. where the organisation names a just-in-time team, a new employee in it, with the
//!    token's email and name (audited `sso_member_created`), unless a member has that email
//!    already (matching by email is the admins' choice, not the provider's);
//! 4. otherwise nobody (`no_account`). A deactivated member is refused (`account_disabled`).

use std::str::FromStr;

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::SsoError;
use super::id_token::Identity;
use super::settings::Stored;
use crate::audit::{self, Action, Actor};
use crate::auth::Role;
use crate::error::AppError;
use crate::members::{NewMember, queries as member_queries};
use crate::schema::members;
use crate::validation;

/// A member who may sign in.
#[derive(Debug, Clone, Copy)]
pub struct Member {
    pub id: Uuid,
    pub role: Role,
}

/// Why nobody signs in, for the app (`error=`) and for the log (never a secret).
#[derive(Debug)]
pub struct Refusal {
    pub code: SsoError,
    pub reason: String,
}

impl Refusal {
    fn new(code: SsoError, reason: impl Into<String>) -> Refusal {
        Refusal {
            code,
            reason: reason.into(),
        }
    }
}

impl From<AppError> for Refusal {
    fn from(e: AppError) -> Refusal {
        Refusal::new(SsoError::ServerError, e.chain().to_string())
    }
}

type Found = (Uuid, String, bool, Option<String>);

async fn by_subject(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    subject: &str,
) -> Result<Option<Found>, AppError> {
    Ok(members::table
        .filter(members::organisation_id.eq(org))
        .filter(members::sso_subject.eq(subject))
        .select((
            members::id,
            members::role,
            members::deactivated_at.is_not_null(),
            members::sso_subject,
        ))
        .first(conn)
        .await
        .optional()?)
}

fn usable(found: Found) -> Result<Member, Refusal> {
    let (id, role, deactivated, _) = found;
    if deactivated {
        return Err(Refusal::new(
            SsoError::AccountDisabled,
            format!("member {id} is deactivated"),
        ));
    }
    let role = Role::from_str(&role).map_err(|_| AppError::internal("unknown role in database"))?;
    Ok(Member { id, role })
}

/// The member `who` is in the provider's organisation, found, linked or created.
pub async fn member_for(
    conn: &mut AsyncPgConnection,
    provider: &Stored,
    who: &Identity,
) -> Result<Member, Refusal> {
    let org = provider.organisation_id;
    if let Some(found) = by_subject(conn, org, &who.subject).await? {
        return usable(found);
    }
    let outcome = conn
        .transaction::<_, AppError, _>(async |conn| first_sign_in(conn, provider, who).await)
        .await;
    match outcome {
        Ok(result) => result,
        // Two first sign-ins of one person at once: the other one stored the subject.
        Err(AppError::Conflict { .. }) => match by_subject(conn, org, &who.subject).await? {
            Some(found) => usable(found),
            None => Err(Refusal::new(
                SsoError::NoAccount,
                "the member could not be linked or created (a conflicting member)",
            )),
        },
        Err(e) => Err(e.into()),
    }
}

/// A subject no member holds: link by email or create, inside the caller's transaction.
async fn first_sign_in(
    conn: &mut AsyncPgConnection,
    provider: &Stored,
    who: &Identity,
) -> Result<Result<Member, Refusal>, AppError> {
    let org = provider.organisation_id;
    let by_email: Option<Found> = match &who.email {
        Some(email) => members::table
            .filter(members::organisation_id.eq(org))
            .filter(members::email.eq(email))
            .select((
                members::id,
                members::role,
                members::deactivated_at.is_not_null(),
                members::sso_subject,
            ))
            .for_update()
            .first(conn)
            .await
            .optional()?,
        None => None,
    };
    if let Some(found) = by_email {
        if !provider.match_email_on_first_login {
            return Ok(Err(Refusal::new(
                SsoError::NoAccount,
                "a member has this email, but the organisation does not match members by email",
            )));
        }
        if !who.email_verified {
            return Ok(Err(Refusal::new(
                SsoError::NoAccount,
                "the provider does not say the email is verified (email_verified)",
            )));
        }
        if found.3.is_some() {
            return Ok(Err(Refusal::new(
                SsoError::NoAccount,
                "the member with this email is linked to another subject",
            )));
        }
        let member = match usable(found) {
            Ok(m) => m,
            Err(refusal) => return Ok(Err(refusal)),
        };
        link(conn, org, member.id, &who.subject).await?;
        audit::record(
            conn,
            org,
            Actor::Member(member.id),
            Action::SsoLinked,
            Some(("member", member.id)),
            serde_json::json!({ "subject_claim": provider.subject_claim }),
        )
        .await?;
        return Ok(Ok(member));
    }
    let Some(team) = provider.jit_team_id else {
        return Ok(Err(Refusal::new(
            SsoError::NoAccount,
            "no member holds this subject and the organisation creates nobody",
        )));
    };
    let mut errors = Vec::new();
    let email = validation::email("email", who.email.as_deref().unwrap_or(""), &mut errors);
    if !errors.is_empty() {
        return Ok(Err(Refusal::new(
            SsoError::NoAccount,
            "a member cannot be created: the ID token has no usable email",
        )));
    }
    let new = NewMember {
        display_name: display_name(who.name.as_deref(), &email),
        email,
        role: Role::Employee,
        team_id: Some(team),
        password_hash: None,
        birth_date: None,
        started_on: None,
        employee_number: None,
    };
    let id = match member_queries::create(conn, org, new, None).await {
        Ok(id) => id,
        // The team was archived since it was chosen.
        Err(AppError::Conflict { detail, .. }) if detail.contains("archived") => {
            return Ok(Err(Refusal::new(SsoError::NoAccount, detail)));
        }
        Err(e) => return Err(e),
    };
    link(conn, org, id, &who.subject).await?;
    audit::record(
        conn,
        org,
        Actor::Member(id),
        Action::SsoMemberCreated,
        Some(("member", id)),
        serde_json::json!({ "team_id": team, "role": Role::Employee.as_str() }),
    )
    .await?;
    Ok(Ok(Member {
        id,
        role: Role::Employee,
    }))
}

async fn link(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
    subject: &str,
) -> Result<(), AppError> {
    diesel::update(
        members::table
            .filter(members::organisation_id.eq(org))
            .filter(members::id.eq(member)),
    )
    .set(members::sso_subject.eq(subject))
    .execute(conn)
    .await?;
    Ok(())
}

/// A display name from the token's `name` (controls and deceptive characters dropped, at most
/// 120 characters), else the email's local part.
fn display_name(name: Option<&str>, email: &str) -> String {
    let clean: String = name
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control() && !validation::has_deceptive_characters(&c.to_string()))
        .collect();
    let clean: String = clean.trim().chars().take(120).collect();
    if !clean.trim().is_empty() {
        return clean.trim().to_string();
    }
    email
        .split('@')
        .next()
        .unwrap_or("member")
        .chars()
        .take(120)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::display_name;

    #[test]
    fn a_display_name_is_the_tokens_name_made_safe_or_the_emails_local_part() {
        assert_eq!(display_name(Some("  Ana Lima "), "a@x.io"), "Ana Lima");
        assert_eq!(display_name(Some("Ana\u{202E}\u{0007}"), "a@x.io"), "Ana");
        assert_eq!(
            display_name(Some(" \u{200B} "), "ana.lima@x.io"),
            "ana.lima"
        );
        assert_eq!(display_name(None, "ben@x.io"), "ben");
        assert_eq!(display_name(Some(&"x".repeat(300)), "a@x.io").len(), 120);
    }
}
