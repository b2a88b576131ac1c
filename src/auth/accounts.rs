//! What checks a password and what sets one: logging in (throttled, the hasher bounded, no
//! connection held while hashing), accepting an invite, changing a password.

use std::str::FromStr;

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::client_addr::ClientAddr;
use super::guards::Caller;
use super::passwords::Hasher;
use super::rate_limit::{Key, LoginThrottle};
use super::sessions::{self, NewSession};
use super::sso_policy::{self, By};
use super::tokens;
use super::{AuthPolicy, ChangePasswordRequest, LoginRequest, Role};
use crate::audit::{self, Action, Actor};
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldError};
use crate::http::check;
use crate::mail::{self, Mail};
use crate::read_cache::WriteNote;
use crate::schema::{member_invites, members, organisations};
use crate::validation;

const BAD_CREDENTIALS: &str =
    "the organisation, email (or employee number) or password is not right";

/// Longer than any slug an organisation can have; a login naming a longer one is bad input.
const MAX_SLUG_LENGTH: usize = 63;

/// Who logs in, checked for shape (not yet against any account).
pub struct Credentials {
    slug: String,
    who: Identifier,
    password: String,
}

/// How a login names its member.
pub(super) enum Identifier {
    Email(String),
    /// Upper-cased: numbers are compared without regard to case.
    EmployeeNumber(String),
}

impl Credentials {
    pub fn parse(req: LoginRequest) -> AppResult<Credentials> {
        let mut errors = Vec::new();
        let (slug, who) = parse_account(
            &req.organisation,
            req.email.as_deref(),
            req.employee_number.as_deref(),
            &mut errors,
        );
        if req.password.is_empty() {
            errors.push(FieldError::new("password", "must not be empty"));
        } else if req.password.chars().count() > validation::MAX_PASSWORD_LENGTH {
            errors.push(FieldError::new(
                "password",
                "is longer than any password we accept",
            ));
        }
        check(errors)?;
        Ok(Credentials {
            slug,
            who,
            password: req.password,
        })
    }
}

/// An account as a request names it: the organisation's slug and one of an email or an
/// employee number (normalised), or field errors.
pub(super) fn parse_account(
    organisation: &str,
    email: Option<&str>,
    employee_number: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> (String, Identifier) {
    let slug = organisation.trim().to_lowercase();
    if slug.is_empty() {
        errors.push(FieldError::new("organisation", "must not be empty"));
    } else if slug.chars().count() > MAX_SLUG_LENGTH {
        errors.push(FieldError::new(
            "organisation",
            "is longer than any organisation's slug",
        ));
    }
    let who = match (email, employee_number) {
        (Some(email), None) => Identifier::Email(validation::email("email", email, errors)),
        (None, Some(number)) => Identifier::EmployeeNumber(
            validation::employee_number("employee_number", number, errors).to_uppercase(),
        ),
        _ => {
            errors.push(FieldError::new(
                "email",
                "give either email or employee_number (one of the two)",
            ));
            Identifier::Email(String::new())
        }
    };
    (slug, who)
}

/// Logs in: (member, organisation, role, the new session). Notes the organisation written to.
pub async fn log_in(
    db: &Db,
    throttle: &LoginThrottle,
    hasher: &Hasher,
    policy: &AuthPolicy,
    client: ClientAddr,
    note: &WriteNote<'_>,
    credentials: Credentials,
) -> AppResult<(Uuid, Uuid, Role, NewSession)> {
    let Credentials {
        slug,
        who,
        password,
    } = credentials;
    // An address the shared counts refused lately is answered from memory: its flood neither
    // queues for a hashing permit ahead of other people's logins nor costs a round trip.
    let address = Key::address(client.0);
    throttle.refused_lately(&address)?;
    // The hashing permit first: when the hasher is saturated (a flood), the login is refused
    // before it costs a database round trip, and it has used none of its budgets.
    let permit = hasher.acquire().await?;
    // Both attempts are reserved before any hashing, so concurrent guesses count each other.
    // An account's failures count per name it is logged in by (its email, its number).
    let account = match &who {
        Identifier::Email(email) => Key::account(&slug, email),
        Identifier::EmployeeNumber(number) => Key::account(&slug, &format!("#{number}")),
    };
    let mut conn = db.conn().await?;
    throttle
        .reserve_sign_in(&mut conn, &address, &account)
        .await?;
    let mut query = members::table
        .inner_join(organisations::table)
        .filter(organisations::slug.eq(&slug))
        .into_boxed();
    query = match &who {
        Identifier::Email(email) => query.filter(members::email.eq(email)),
        Identifier::EmployeeNumber(number) => {
            query.filter(crate::sql::upper(members::employee_number).eq(number))
        }
    };
    let found: Option<(Uuid, Uuid, String, Option<String>, bool)> = query
        .select((
            members::id,
            members::organisation_id,
            members::role,
            members::password_hash,
            members::deactivated_at.is_not_null(),
        ))
        .first(&mut conn)
        .await
        .optional()?;
    // No connection is held while hashing: a flood of logins must not starve
    // the pool that every other request needs.
    drop(conn);
    let stored = found.as_ref().and_then(|f| f.3.clone());
    let valid = match hasher.verify_with(permit, password, stored).await {
        Ok(valid) => valid,
        Err(e) => {
            // No password was checked, so the account's owner loses nothing; the address
            // keeps the attempt (a flood from one address meets its budget, which is cheap).
            if let Ok(mut conn) = db.conn().await {
                throttle.give_back(&mut conn, &account).await;
            }
            return Err(e);
        }
    };
    let Some((member_id, org, role, _, deactivated)) = found.filter(|_| valid) else {
        return Err(AppError::Unauthorized(BAD_CREDENTIALS.into()));
    };
    let mut conn = db.conn().await?;
    // The right password: not a failure, whatever else happens.
    throttle.signed_in(&mut conn, &address, &account).await;
    if deactivated {
        return Err(AppError::Unauthorized(BAD_CREDENTIALS.into()));
    }
    let role = Role::from_str(&role).map_err(|_| AppError::internal("unknown role in database"))?;
    sso_policy::check(&mut conn, org, member_id, role, By::Password).await?;
    note.organisation(org);
    let session = sessions::start(&mut conn, org, member_id, policy).await?;
    Ok((member_id, org, role, session))
}

/// What a single-use token sets a password for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// An admin's invite (also how an admin resets a forgotten password).
    Invite,
    /// A reset the member asked for by email.
    Reset,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Invite => "invite",
            Purpose::Reset => "reset",
        }
    }
}

/// A single-use code and the password it is to set.
pub struct Code {
    pub purpose: Purpose,
    pub token: String,
    pub password: String,
}

/// Sets the password an invite or a reset asked for and logs in, ending every earlier
/// session: (member, organisation, role, the new session).
pub async fn redeem(
    db: &Db,
    policy: &AuthPolicy,
    hasher: &Hasher,
    mail: &Mail,
    note: &WriteNote<'_>,
    code: Code,
) -> AppResult<(Uuid, Uuid, Role, NewSession)> {
    let Code {
        purpose,
        token,
        password,
    } = code;
    let hash = tokens::hash_opaque_token(token.trim());
    let mut conn = db.conn().await?;
    let found: Option<(Uuid, Uuid, Uuid, String, String)> = member_invites::table
        .inner_join(members::table.on(members::id.eq(member_invites::member_id)))
        .filter(member_invites::token_hash.eq(&hash))
        .filter(member_invites::purpose.eq(purpose.as_str()))
        .filter(member_invites::used_at.is_null())
        .filter(member_invites::expires_at.gt(Utc::now()))
        .filter(members::deactivated_at.is_null())
        .select((
            member_invites::id,
            members::id,
            members::organisation_id,
            members::email,
            members::role,
        ))
        .first(&mut conn)
        .await
        .optional()?;
    let Some((token_id, member_id, org, email, role)) = found else {
        return Err(AppError::Unauthorized(
            match purpose {
                Purpose::Invite => {
                    "this invite is not valid: it may be used or expired; ask an admin for a new one"
                }
                Purpose::Reset => {
                    "this reset code is not valid: it may be used or expired; ask for a new one"
                }
            }
            .into(),
        ));
    };
    let role = Role::from_str(&role).map_err(|_| AppError::internal("unknown role in database"))?;
    // A code opens a session with a password: not where single sign-on is required (but for a
    // break-glass admin). Checked before the code is spent.
    sso_policy::check(&mut conn, org, member_id, role, By::Password).await?;
    // No connection is held while hashing.
    drop(conn);
    let mut errors = Vec::new();
    validation::password("password", &password, Some(&email), &mut errors);
    check(errors)?;
    let hashed = hasher.hash(password).await?;
    note.organisation(org);
    let mut conn = db.conn().await?;
    let set = match purpose {
        Purpose::Invite => NewPassword {
            hashed,
            keep: None,
            why: "password set by invite",
            action: Action::InviteAccepted,
        },
        Purpose::Reset => NewPassword {
            hashed,
            keep: None,
            why: "password reset",
            action: Action::PasswordReset,
        },
    };
    let session = conn
        .transaction::<_, AppError, _>(async move |conn| {
            // Consume the token only if nobody else did in the meantime.
            let consumed = diesel::update(
                member_invites::table
                    .filter(member_invites::id.eq(token_id))
                    .filter(member_invites::used_at.is_null()),
            )
            .set(member_invites::used_at.eq(Utc::now()))
            .execute(conn)
            .await?;
            if consumed == 0 {
                return Err(AppError::Unauthorized(
                    "this code has already been used".into(),
                ));
            }
            set_password(conn, mail, org, member_id, set).await?;
            sessions::start(conn, org, member_id, policy).await
        })
        .await?;
    Ok((member_id, org, role, session))
}

/// Changes the caller's password once the current one is verified (on the login's account
/// budget), ending their other sessions.
pub async fn change_password(
    db: &Db,
    throttle: &LoginThrottle,
    hasher: &Hasher,
    mail: &Mail,
    caller: &Caller,
    req: ChangePasswordRequest,
) -> AppResult<()> {
    let mut conn = db.conn().await?;
    let (slug, email, stored): (String, String, Option<String>) = members::table
        .inner_join(organisations::table)
        .filter(members::organisation_id.eq(caller.organisation_id))
        .filter(members::id.eq(caller.member_id))
        .select((organisations::slug, members::email, members::password_hash))
        .first(&mut conn)
        .await?;
    drop(conn);
    let mut errors = Vec::new();
    validation::password("new_password", &req.new_password, Some(&email), &mut errors);
    if req.new_password == req.current_password {
        errors.push(FieldError::new(
            "new_password",
            "must differ from the current password",
        ));
    }
    let account = Key::account(&slug, &email);
    if !verify_own_password(db, throttle, hasher, &account, req.current_password, stored).await? {
        errors.insert(
            0,
            FieldError::new("current_password", "is not your current password"),
        );
    }
    check(errors)?;
    let hashed = hasher.hash(req.new_password).await?;
    let mut conn = db.conn().await?;
    let (org, member, session) = (caller.organisation_id, caller.member_id, caller.session_id);
    let set = NewPassword {
        hashed,
        keep: Some(session),
        why: "password changed",
        action: Action::PasswordChanged,
    };
    conn.transaction::<_, AppError, _>(async move |conn| {
        set_password(conn, mail, org, member, set).await
    })
    .await?;
    Ok(())
}

/// Whether `password` is the signed-in member's own (`stored`), checked on their login's
/// `account` budget: guesses here (a stolen session) and at the login share one count, so
/// neither doubles the other's. A wrong one counts; the right one clears the count; a hasher
/// too busy to check gives the attempt back.
pub async fn verify_own_password(
    db: &Db,
    throttle: &LoginThrottle,
    hasher: &Hasher,
    account: &Key,
    password: String,
    stored: Option<String>,
) -> AppResult<bool> {
    {
        let mut conn = db.conn().await?;
        throttle.reserve(&mut conn, account).await?;
    }
    // No connection is held while hashing.
    let verified = hasher.verify(password, stored).await;
    let mut conn = db.conn().await?;
    match verified {
        Ok(true) => {
            throttle.clear(&mut conn, account).await;
            Ok(true)
        }
        Ok(false) => Ok(false),
        Err(e) => {
            throttle.give_back(&mut conn, account).await;
            Err(e)
        }
    }
}

/// A password being set, and what setting it ends and says.
struct NewPassword {
    hashed: String,
    /// The session that stays (the one changing its password); every other ends.
    keep: Option<Uuid>,
    /// Why the sessions ended, on their rows.
    why: &'static str,
    action: Action,
}

/// Write `member`'s new password, end their sessions but `keep`, audit it and (unless it is
/// their first, from an invite) tell them by email, all inside the caller's transaction: an
/// old session must not outlive the password that opened it.
async fn set_password(
    conn: &mut AsyncPgConnection,
    mail: &Mail,
    org: Uuid,
    member: Uuid,
    set: NewPassword,
) -> AppResult<()> {
    diesel::update(
        members::table
            .filter(members::organisation_id.eq(org))
            .filter(members::id.eq(member)),
    )
    .set((
        members::password_hash.eq(set.hashed),
        members::updated_at.eq(Utc::now()),
    ))
    .execute(conn)
    .await?;
    let ended = sessions::revoke_all(conn, org, member, set.keep, set.why).await?;
    if set.action != Action::InviteAccepted {
        mail::notices::password_changed(conn, mail, org, member).await?;
    }
    audit::record(
        conn,
        org,
        Actor::Member(member),
        set.action,
        Some(("member", member)),
        serde_json::json!({ "sessions_ended": ended }),
    )
    .await
}
