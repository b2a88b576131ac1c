//! PINs for shared devices: where an organisation allows it (`pin_sign_in`), staff who are not
//! admins or HR set a numeric PIN (with their password) and sign in with their employee number
//! and it. A PIN has few values, so its attempts have a hard budget per employee number
//! ([`rate_limit::PIN_ATTEMPTS`] per window, then none until the window passes) besides the
//! address's; it is hashed with argon2 like a password, and checked the same way (no
//! connection held while hashing, the hasher bounded).

use std::str::FromStr;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::accounts;
use super::client_addr::ClientAddr;
use super::guards::Caller;
use super::passwords::Hasher;
use super::rate_limit::{Key, LoginThrottle};
use super::sessions::{self, NewSession};
use super::sso_policy::{self, By};
use super::{AuthPolicy, Role};
use crate::audit::{self, Action, Actor};
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldError};
use crate::http::check;
use crate::read_cache::WriteNote;
use crate::schema::{members, organisations};
use crate::validation;

const BAD_PIN: &str = "the organisation, employee number or PIN is not right";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PinLoginRequest {
    /// The organisation's slug.
    pub organisation: String,
    pub employee_number: String,
    /// 4 to 8 digits.
    pub pin: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPinRequest {
    /// 4 to 8 digits, not all the same and not a straight run (`1234`, `9876`).
    pub pin: String,
    /// Your password: a stolen session must not be able to set a PIN.
    pub password: String,
}

/// A PIN's shape: 4-8 ASCII digits, not one digit repeated, not a straight run up or down.
pub fn check_pin(field: &str, pin: &str, errors: &mut Vec<FieldError>) {
    let digits: Vec<i32> = pin
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| i32::from(b - b'0'))
        .collect();
    if digits.len() != pin.len() || !(4..=8).contains(&digits.len()) {
        errors.push(FieldError::new(field, "must be 4 to 8 digits"));
        return;
    }
    let steps: Vec<i32> = digits.windows(2).map(|w| w[1] - w[0]).collect();
    if steps.iter().all(|s| *s == 0)
        || steps.iter().all(|s| *s == 1)
        || steps.iter().all(|s| *s == -1)
    {
        errors.push(FieldError::new(
            field,
            "is too easy to guess (one digit repeated, or a run such as 1234)",
        ));
    }
}

/// What setting a PIN needs to know of the caller.
struct Holder {
    slug: String,
    email: String,
    password_hash: Option<String>,
    allowed: bool,
}

async fn holder(conn: &mut AsyncPgConnection, caller: &Caller) -> AppResult<Holder> {
    let (slug, email, password_hash, allowed) = members::table
        .inner_join(organisations::table)
        .filter(members::organisation_id.eq(caller.organisation_id))
        .filter(members::id.eq(caller.member_id))
        .select((
            organisations::slug,
            members::email,
            members::password_hash,
            organisations::pin_sign_in,
        ))
        .first::<(String, String, Option<String>, bool)>(conn)
        .await?;
    Ok(Holder {
        slug,
        email,
        password_hash,
        allowed,
    })
}

/// Admins and HR hold what a shared device must not open.
fn may_hold_a_pin(caller: &Caller) -> AppResult<()> {
    if matches!(caller.role, Role::Admin | Role::Hr) {
        return Err(AppError::Forbidden(
            "admins and HR sign in with their password, never a PIN".into(),
        ));
    }
    Ok(())
}

/// Set (or replace) the caller's PIN, checking their password (throttled as a login is).
pub async fn set(
    db: &Db,
    throttle: &LoginThrottle,
    hasher: &Hasher,
    caller: &Caller,
    req: SetPinRequest,
) -> AppResult<()> {
    may_hold_a_pin(caller)?;
    let mut errors = Vec::new();
    check_pin("pin", &req.pin, &mut errors);
    check(errors)?;
    let mut conn = db.conn().await?;
    let h = holder(&mut conn, caller).await?;
    if !h.allowed {
        return Err(AppError::conflict(
            "your organisation does not allow signing in with a PIN",
        ));
    }
    drop(conn);
    // Guesses at the password here and at the login share one count.
    let account = Key::account(&h.slug, &h.email);
    if !accounts::verify_own_password(
        db,
        throttle,
        hasher,
        &account,
        req.password,
        h.password_hash,
    )
    .await?
    {
        return Err(AppError::Validation(vec![FieldError::new(
            "password",
            "is not your password",
        )]));
    }
    let hashed = hasher.hash(req.pin).await?;
    let mut conn = db.conn().await?;
    store(&mut conn, caller, Some(hashed), Action::PinSet).await
}

/// Remove the caller's PIN (none: no change).
pub async fn remove(db: &Db, caller: &Caller) -> AppResult<()> {
    let mut conn = db.conn().await?;
    store(&mut conn, caller, None, Action::PinRemoved).await
}

async fn store(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    hash: Option<String>,
    action: Action,
) -> AppResult<()> {
    let (org, member) = (caller.organisation_id, caller.member_id);
    crate::db::transaction(conn, move |conn| {
        let hash = hash.clone();
        Box::pin(async move {
            diesel::update(
                members::table
                    .filter(members::organisation_id.eq(org))
                    .filter(members::id.eq(member)),
            )
            .set(members::pin_hash.eq(hash))
            .execute(conn)
            .await?;
            audit::record(
                conn,
                org,
                Actor::Member(member),
                action,
                Some(("member", member)),
                serde_json::json!({}),
            )
            .await
        })
    })
    .await
}

/// Signs in with an employee number and a PIN: (member, organisation, role, the new session).
/// Every refusal but the throttle's is the same `401`: no PIN set, PINs not allowed, an admin
/// or HR member, a deactivated one, a wrong PIN.
pub async fn log_in(
    db: &Db,
    throttle: &LoginThrottle,
    hasher: &Hasher,
    policy: &AuthPolicy,
    client: ClientAddr,
    note: &WriteNote<'_>,
    req: PinLoginRequest,
) -> AppResult<(Uuid, Uuid, Role, NewSession)> {
    let mut errors = Vec::new();
    let slug = req.organisation.trim().to_lowercase();
    if slug.is_empty() || slug.chars().count() > 63 {
        errors.push(FieldError::new(
            "organisation",
            "is not an organisation's slug",
        ));
    }
    let number = validation::employee_number("employee_number", &req.employee_number, &mut errors)
        .to_uppercase();
    check_pin_shape(&req.pin, &mut errors);
    check(errors)?;

    let address = Key::address(client.0);
    throttle.refused_lately(&address)?;
    let permit = hasher.acquire().await?;
    let pin_key = Key::pin(&slug, &number);
    let mut conn = db.conn().await?;
    throttle
        .reserve_sign_in(&mut conn, &address, &pin_key)
        .await?;
    let found: Option<(Uuid, Uuid, String, Option<String>, bool, bool)> = members::table
        .inner_join(organisations::table)
        .filter(organisations::slug.eq(&slug))
        .filter(crate::sql::upper(members::employee_number).eq(&number))
        .select((
            members::id,
            members::organisation_id,
            members::role,
            members::pin_hash,
            members::deactivated_at.is_not_null(),
            organisations::pin_sign_in,
        ))
        .first(&mut conn)
        .await
        .optional()?;
    drop(conn);
    // Checked against a hash (or the hasher's stand-in) whatever was found, so that the
    // answer's time does not tell which numbers hold a PIN.
    let usable = found.as_ref().filter(|f| {
        f.5 && !f.4 && matches!(Role::from_str(&f.2), Ok(Role::Employee | Role::TeamLead))
    });
    let stored = usable.and_then(|f| f.3.clone());
    let valid = match hasher.verify_with(permit, req.pin, stored).await {
        Ok(valid) => valid,
        Err(e) => {
            if let Ok(mut conn) = db.conn().await {
                throttle.give_back(&mut conn, &pin_key).await;
            }
            return Err(e);
        }
    };
    let Some((member_id, org, role, ..)) = usable.cloned().filter(|_| valid) else {
        return Err(AppError::Unauthorized(BAD_PIN.into()));
    };
    let mut conn = db.conn().await?;
    throttle.signed_in(&mut conn, &address, &pin_key).await;
    let role = Role::from_str(&role).map_err(|_| AppError::internal("unknown role in database"))?;
    sso_policy::check(&mut conn, org, member_id, role, By::Pin).await?;
    note.organisation(org);
    let session = sessions::start(&mut conn, org, member_id, policy).await?;
    Ok((member_id, org, role, session))
}

/// A login's PIN is only checked for shape (digits, length): how guessable it is was decided
/// when it was set.
fn check_pin_shape(pin: &str, errors: &mut Vec<FieldError>) {
    if !(4..=8).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
        errors.push(FieldError::new("pin", "must be 4 to 8 digits"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(pin: &str) -> bool {
        let mut errors = Vec::new();
        check_pin("pin", pin, &mut errors);
        !errors.is_empty()
    }

    #[test]
    fn a_pin_is_four_to_eight_digits_and_not_the_obvious_ones() {
        for bad in [
            "",
            "123",
            "123456789",
            "12a4",
            "１２３４",
            "0000",
            "1234",
            "9876",
            "55555",
        ] {
            assert!(refused(bad), "{bad}");
        }
        for good in ["2580", "1357", "40719", "90210311"] {
            assert!(!refused(good), "{good}");
        }
    }
}
