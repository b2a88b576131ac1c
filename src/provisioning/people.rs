//! The demo organisation's people: its teams, members (with some team history) and a team
//! lead's budget.

use std::collections::HashMap;

use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use crate::auth::{Caller, Role};
use crate::error::{AppError, AppResult};
use crate::members::{NewMember, queries as members};
use crate::recognition::giving;
use crate::{organisations as orgs, teams};

pub const DEMO_SLUG: &str = "demo";
/// Demo data only: every demo login uses this password. Never use `demo` in production.
pub const DEMO_PASSWORD: &str = "frontline-demo-2026";

pub(super) const ADMIN: &str = "admin@demo.example";
pub(super) const HR: &str = "hr@demo.example";
pub(super) const LARS: &str = "lead.care@demo.example";
pub(super) const ANA: &str = "ana@demo.example";
pub(super) const BEN: &str = "ben@demo.example";
pub(super) const CHLOE: &str = "chloe@demo.example";
pub(super) const SOFIA: &str = "lead.store@demo.example";
pub(super) const DEV: &str = "dev@demo.example";
pub(super) const ELI: &str = "eli@demo.example";
pub(super) const FRIDA: &str = "lead.field@demo.example";
pub(super) const GUS: &str = "gus@demo.example";

/// (email, name, role, current team index)
pub(super) const DEMO_MEMBERS: &[(&str, &str, Role, Option<usize>)] = &[
    (ADMIN, "Ada Admin", Role::Admin, None),
    (HR, "Hanna HR", Role::Hr, None),
    (LARS, "Lars Lead", Role::TeamLead, Some(0)),
    (ANA, "Ana Agent", Role::Employee, Some(0)),
    (BEN, "Ben Berg", Role::Employee, Some(0)),
    (CHLOE, "Chloe Chen", Role::Employee, Some(0)),
    (SOFIA, "Sofia Store", Role::TeamLead, Some(1)),
    (DEV, "Dev Patel", Role::Employee, Some(1)),
    (ELI, "Eli Ek", Role::Employee, Some(1)),
    (FRIDA, "Frida Field", Role::TeamLead, Some(2)),
    (GUS, "Gus Green", Role::Employee, Some(2)),
];

const DEMO_TEAMS: &[&str] = &["Customer Care", "Flagship Store", "Field Service"];

/// Some history: (email, the team they started in). They move to their current team at once.
const DEMO_EARLIER_TEAMS: &[(&str, usize)] = &[(ELI, 0)];

/// Sofia's own monthly recognition budget, set by the admin (the other leads have the default).
const DEMO_STORE_LEAD_BUDGET: i32 = 300;

/// The demo members, by email, as the callers the domain functions expect.
pub(super) type People = HashMap<&'static str, Caller>;

/// The organisation, its teams and members (with some team history), and Sofia's budget.
pub(super) async fn demo_people(
    conn: &mut AsyncPgConnection,
    hash: String,
) -> AppResult<(Uuid, People)> {
    let org = orgs::create(conn, DEMO_SLUG, "Demo Retail CX", "Europe/Oslo")
        .await?
        .id;
    let mut team_ids = Vec::new();
    for name in DEMO_TEAMS {
        team_ids.push(teams::create(conn, org, name).await?.id);
    }
    let team = |t: Option<usize>| t.and_then(|t| team_ids.get(t).copied());
    let mut people = People::new();
    for (email, name, role, current) in DEMO_MEMBERS {
        let earlier = DEMO_EARLIER_TEAMS
            .iter()
            .find(|(e, _)| e == email)
            .map(|(_, t)| *t);
        let member_id = members::create(
            conn,
            org,
            NewMember {
                email: email.to_string(),
                display_name: name.to_string(),
                role: *role,
                team_id: team(earlier.or(*current)),
                password_hash: Some(hash.clone()),
            },
            None,
        )
        .await?;
        people.insert(
            email,
            Caller {
                member_id,
                organisation_id: org,
                role: *role,
                team_id: team(*current),
                // The demo acts outside any session.
                session_id: Uuid::nil(),
            },
        );
    }
    let admin = person(&people, ADMIN)?.member_id;
    for (email, _) in DEMO_EARLIER_TEAMS {
        let member = person(&people, email)?;
        let current = member
            .team_id
            .ok_or_else(|| AppError::internal("a demo member who moved has no team"))?;
        members::move_to_team(conn, org, member.member_id, current, admin).await?;
    }
    let sofia = person(&people, SOFIA)?.member_id;
    giving::set_lead_budget(conn, org, sofia, DEMO_STORE_LEAD_BUDGET, admin).await?;
    Ok((org, people))
}

pub(super) fn person(people: &People, email: &str) -> AppResult<Caller> {
    people
        .get(email)
        .cloned()
        .ok_or_else(|| AppError::internal(format!("demo member {email} missing")))
}
