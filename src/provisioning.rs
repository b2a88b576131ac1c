//! Creating organisations from the command line: `bootstrap` for a real deployment, `demo`
//! for a tour of the product.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::auth::{Role, passwords};
use crate::error::{AppError, AppResult};
use crate::http::check;
use crate::members::{NewMember, queries as members};
use crate::schema::organisations;
use crate::{organisations as orgs, teams, validation};

pub struct Bootstrap {
    pub slug: String,
    pub name: String,
    pub time_zone: String,
    pub admin_email: String,
    pub admin_name: String,
    pub admin_password: String,
}

/// Create an organisation and its first admin. Refuses a slug that exists.
pub async fn bootstrap(conn: &mut AsyncPgConnection, b: Bootstrap) -> AppResult<(Uuid, Uuid)> {
    let mut errors = Vec::new();
    let email = validation::email("admin_email", &b.admin_email, &mut errors);
    let admin_name = validation::text("admin_name", &b.admin_name, 120, &mut errors);
    validation::password(
        "admin_password",
        &b.admin_password,
        Some(&email),
        &mut errors,
    );
    check(errors)?;
    let hash = passwords::hash(b.admin_password).await?;
    let org = orgs::create(conn, &b.slug, &b.name, &b.time_zone).await?;
    let admin = members::create(
        conn,
        org.id,
        NewMember {
            email,
            display_name: admin_name,
            role: Role::Admin,
            team_id: None,
            password_hash: Some(hash),
        },
        None,
    )
    .await?;
    Ok((org.id, admin))
}

pub const DEMO_SLUG: &str = "demo";
/// Demo data only: every demo login uses this password. Never use `demo` in production.
pub const DEMO_PASSWORD: &str = "frontline-demo-2026";

/// (email, name, role, team index)
const DEMO_MEMBERS: &[(&str, &str, Role, Option<usize>)] = &[
    ("admin@demo.example", "Ada Admin", Role::Admin, None),
    ("hr@demo.example", "Hanna HR", Role::Hr, None),
    (
        "lead.care@demo.example",
        "Lars Lead",
        Role::TeamLead,
        Some(0),
    ),
    ("ana@demo.example", "Ana Agent", Role::Employee, Some(0)),
    ("ben@demo.example", "Ben Berg", Role::Employee, Some(0)),
    ("chloe@demo.example", "Chloe Chen", Role::Employee, Some(0)),
    (
        "lead.store@demo.example",
        "Sofia Store",
        Role::TeamLead,
        Some(1),
    ),
    ("dev@demo.example", "Dev Patel", Role::Employee, Some(1)),
    ("eli@demo.example", "Eli Ek", Role::Employee, Some(1)),
    (
        "lead.field@demo.example",
        "Frida Field",
        Role::TeamLead,
        Some(2),
    ),
    ("gus@demo.example", "Gus Green", Role::Employee, Some(2)),
];

const DEMO_TEAMS: &[&str] = &["Customer Care", "Flagship Store", "Field Service"];

pub struct DemoLogins {
    pub created: bool,
    pub logins: Vec<(String, Role)>,
}

/// Load the demo organisation unless it exists. Either way, return its logins.
pub async fn demo(conn: &mut AsyncPgConnection) -> AppResult<DemoLogins> {
    let logins = DEMO_MEMBERS
        .iter()
        .map(|(email, _, role, _)| (email.to_string(), *role))
        .collect();
    let exists: Option<Uuid> = organisations::table
        .filter(organisations::slug.eq(DEMO_SLUG))
        .select(organisations::id)
        .first(conn)
        .await
        .optional()?;
    if exists.is_some() {
        return Ok(DemoLogins {
            created: false,
            logins,
        });
    }
    let org = orgs::create(conn, DEMO_SLUG, "Demo Retail CX", "Europe/Oslo").await?;
    let mut team_ids = Vec::new();
    for name in DEMO_TEAMS {
        team_ids.push(teams::create(conn, org.id, name).await?.id);
    }
    // One hash for all demo logins: hashing is deliberately slow.
    let hash = passwords::hash(DEMO_PASSWORD.to_string()).await?;
    let mut ids = Vec::new();
    for (email, name, role, team) in DEMO_MEMBERS {
        let id = members::create(
            conn,
            org.id,
            NewMember {
                email: email.to_string(),
                display_name: name.to_string(),
                role: *role,
                team_id: team.and_then(|t| team_ids.get(t).copied()),
                password_hash: Some(hash.clone()),
            },
            None,
        )
        .await?;
        ids.push(id);
    }
    // Some history: Eli started in Customer Care and moved to the store.
    let admin = *<[Uuid]>::first(&ids).ok_or_else(|| AppError::internal("demo admin missing"))?;
    if let (Some(eli), Some(care), Some(store)) =
        (ids.get(8), <[Uuid]>::first(&team_ids), team_ids.get(1))
    {
        members::move_to_team(conn, org.id, *eli, *care, admin).await?;
        members::move_to_team(conn, org.id, *eli, *store, admin).await?;
    }
    Ok(DemoLogins {
        created: true,
        logins,
    })
}
