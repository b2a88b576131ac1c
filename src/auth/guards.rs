//! Request guards: a handler that takes [`Caller`] cannot run without a valid token, and one
//! that takes [`Admin`] cannot run for anyone but an admin. The route signature is the policy.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use rocket::State;

use rocket::request::{FromRequest, Outcome, Request};
use uuid::Uuid;

use crate::auth::tokens::{JwtKeys, TokenSubject};
use crate::auth::{AuthPolicy, Role, sessions as session_rules};
use crate::db::Db;
use crate::error::{AppError, ErrorSlot};
use crate::read_cache::{self, Shelf, Weigh};
use crate::schema::{members, sessions};

/// The session row behind an access token, as the caller guard checks it.
#[derive(Debug, Clone)]
pub struct SessionView {
    pub role: String,
    pub team_id: Option<Uuid>,
    pub deactivated: bool,
    pub revoked: bool,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

impl Weigh for SessionView {
    fn bytes(&self) -> usize {
        96
    }
}

/// (session, member, organisation) as the token names them.
pub type SessionKey = (Uuid, Uuid, Uuid);

impl Weigh for SessionKey {
    fn bytes(&self) -> usize {
        48
    }
}

/// The sessions the caller guard has read, held as Rocket state: every authenticated request
/// needs one, and any write to its organisation (a logout, a role change) invalidates it.
#[derive(Clone)]
pub struct SessionCache(Shelf<SessionKey, SessionView>);

impl SessionCache {
    /// Entries live `ttl` at most; zero turns the cache off.
    pub fn new(ttl: std::time::Duration, clock: &crate::clock::Clock) -> Self {
        SessionCache(Shelf::new("sessions", ttl, 16 << 20, 200, clock))
    }
}

/// The authenticated member making the request, as the database knows them right now.
#[derive(Debug, Clone)]
pub struct Caller {
    pub member_id: Uuid,
    pub organisation_id: Uuid,
    pub role: Role,
    pub team_id: Option<Uuid>,
    pub session_id: Uuid,
}

impl Caller {
    pub fn is(&self, role: Role) -> bool {
        self.role == role
    }

    pub fn is_any(&self, roles: &[Role]) -> bool {
        roles.contains(&self.role)
    }
}

async fn authenticate(req: &Request<'_>) -> Result<Caller, AppError> {
    let header = req.headers().get_one("Authorization").ok_or_else(|| {
        AppError::Unauthorized("send an access token: Authorization: Bearer <token>".into())
    })?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            AppError::Unauthorized("the Authorization header must be 'Bearer <token>'".into())
        })?;
    let keys = req
        .guard::<&State<JwtKeys>>()
        .await
        .succeeded()
        .ok_or_else(|| AppError::internal("JWT keys are not managed"))?;
    let token = keys.verify(token)?;
    let cache = req
        .guard::<&State<SessionCache>>()
        .await
        .succeeded()
        .ok_or_else(|| AppError::internal("the session cache is not managed"))?;
    let db = req
        .guard::<&State<Db>>()
        .await
        .succeeded()
        .ok_or_else(|| AppError::internal("database pool is not managed"))?
        .inner()
        .clone();
    let max_age = req
        .guard::<&State<AuthPolicy>>()
        .await
        .succeeded()
        .ok_or_else(|| AppError::internal("the auth policy is not managed"))?
        .session_max_age;
    let key = (token.session, token.member, token.organisation);
    let session = cache
        .0
        .get_or_refresh(key, token.organisation, None, None, move || {
            read_session(db, token, max_age)
        })
        .await?;
    let ended = || AppError::Unauthorized("this session has ended; log in again".into());
    if session.deactivated {
        return Err(AppError::Unauthorized("this account is deactivated".into()));
    }
    if session.revoked || session.expires_at <= Utc::now() {
        return Err(ended());
    }
    let SessionView { role, team_id, .. } = session;
    let role = role
        .parse::<Role>()
        .map_err(|_| AppError::internal(format!("unknown role in database: {role}")))?;
    Ok(Caller {
        member_id: token.member,
        organisation_id: token.organisation,
        role,
        team_id,
        session_id: token.session,
    })
}

/// The member and the session the token belongs to, both of the token's organisation, in one
/// round trip. Role and deactivation are read fresh (or from a cache entry that any write to
/// the organisation invalidates), so they bite immediately.
async fn read_session(
    db: Db,
    token: TokenSubject,
    max_age: chrono::Duration,
) -> Result<SessionView, AppError> {
    let mut conn = db.conn().await?;
    type Row = (
        String,
        Option<Uuid>,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
        DateTime<Utc>,
        DateTime<Utc>,
    );
    let row: Option<Row> = members::table
        .inner_join(
            sessions::table.on(sessions::member_id
                .eq(members::id)
                .and(sessions::organisation_id.eq(members::organisation_id))),
        )
        .filter(members::id.eq(token.member))
        .filter(members::organisation_id.eq(token.organisation))
        .filter(sessions::id.eq(token.session))
        .select((
            members::role,
            members::team_id,
            members::deactivated_at,
            sessions::revoked_at,
            sessions::expires_at,
            sessions::created_at,
        ))
        .first(&mut conn)
        .await
        .optional()?;
    let (role, team_id, deactivated_at, revoked_at, expires_at, created_at) =
        row.ok_or_else(|| AppError::Unauthorized("this session has ended; log in again".into()))?;
    Ok(SessionView {
        role,
        team_id,
        deactivated: deactivated_at.is_some(),
        revoked: revoked_at.is_some(),
        // Sessions refreshed before the absolute lifetime existed (or was shortened) may
        // carry a later expiry: the absolute end bounds it.
        expires_at: expires_at.min(session_rules::absolute_end(created_at, max_age)),
    })
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Caller {
    type Error = AppError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        // Cached so that a handler with several guards authenticates once.
        let result: &Result<Caller, AppError> = req
            .local_cache_async(async { authenticate(req).await })
            .await;
        match result {
            Ok(caller) => {
                read_cache::authenticated(req, caller.organisation_id, Some(caller.member_id));
                Outcome::Success(caller.clone())
            }
            Err(e) => {
                read_cache::refused(req);
                let e = e.clone_shallow();
                Outcome::Error((ErrorSlot::put(req, e.clone_shallow()), e))
            }
        }
    }
}

async fn with_role(req: &Request<'_>, allowed: &[Role], what: &str) -> Outcome<Caller, AppError> {
    match Caller::from_request(req).await {
        Outcome::Success(caller) if caller.is_any(allowed) => Outcome::Success(caller),
        Outcome::Success(_) => {
            read_cache::refused(req);
            let e = AppError::Forbidden(format!("only {what} may do this"));
            Outcome::Error((ErrorSlot::put(req, e.clone_shallow()), e))
        }
        Outcome::Error(e) => Outcome::Error(e),
        Outcome::Forward(s) => Outcome::Forward(s),
    }
}

macro_rules! role_guard {
    ($(#[$doc:meta])* $name:ident, [$($role:expr),+], $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub Caller);

        #[rocket::async_trait]
        impl<'r> FromRequest<'r> for $name {
            type Error = AppError;
            async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
                with_role(req, &[$($role),+], $what).await.map($name)
            }
        }

        impl std::ops::Deref for $name {
            type Target = Caller;
            fn deref(&self) -> &Caller {
                &self.0
            }
        }
    };
}

role_guard!(
    /// An organisation admin.
    Admin, [Role::Admin], "admins"
);
role_guard!(
    /// HR or an admin: people who may read across the organisation.
    HrOrAdmin, [Role::Hr, Role::Admin], "HR or admins"
);
role_guard!(
    /// A team lead or an admin.
    LeadOrAdmin, [Role::TeamLead, Role::Admin], "team leads or admins"
);
role_guard!(
    /// A team lead, HR or an admin: people who look after a team's members.
    LeadHrOrAdmin, [Role::TeamLead, Role::Hr, Role::Admin], "team leads, HR or admins"
);
