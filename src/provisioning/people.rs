//! The demo organisation's people: its teams, members (with some team history) and a team
//! lead's budget.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::auth::{Caller, Role};
use crate::error::{AppError, AppResult};
use crate::members::dates::BirthDate;
use crate::members::{NewMember, queries as members};
use crate::recognition::giving;
use crate::schema::point_rules;
use crate::{organisations as orgs, periods, teams};

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
    let today = periods::local_date(periods::parse_tz("Europe/Oslo"), Utc::now());
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
                birth_date: demo_birth_date(email, today),
                started_on: demo_started_on(email, today),
                employee_number: demo_employee_number(email),
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
    diesel::update(point_rules::table.find(org))
        .set((
            point_rules::birthday_points.eq(DEMO_BIRTHDAY_POINTS),
            point_rules::anniversary_points.eq(DEMO_ANNIVERSARY_POINTS),
        ))
        .execute(conn)
        .await?;
    Ok((org, people))
}

/// The demo pays celebrations: Ana's birthday and Ben's third work anniversary fall on the day
/// the demo is loaded, so the feed shows them at once (and the server awards them again on
/// the same day next year); Chloe was born on Feb 29 (celebrated on Feb 28 in other years).
const DEMO_BIRTHDAY_POINTS: i32 = 20;
const DEMO_ANNIVERSARY_POINTS: i32 = 50;

fn demo_birth_date(email: &str, today: NaiveDate) -> Option<BirthDate> {
    match email {
        ANA => BirthDate::new(today.month(), today.day()),
        CHLOE => BirthDate::new(2, 29),
        LARS => BirthDate::new(9, 17),
        DEV => BirthDate::new(11, 5),
        _ => None,
    }
}

/// Frontline staff sign in with their employee number: Ana's is `E-1001`, Ben's `E-1002`.
fn demo_employee_number(email: &str) -> Option<String> {
    match email {
        ANA => Some("E-1001".into()),
        BEN => Some("E-1002".into()),
        _ => None,
    }
}

fn demo_started_on(email: &str, today: NaiveDate) -> Option<NaiveDate> {
    match email {
        // Three years ago today (Feb 29 has no such day three years earlier: Feb 28).
        BEN => today
            .with_year(today.year() - 3)
            .or_else(|| NaiveDate::from_ymd_opt(today.year() - 3, 2, 28)),
        LARS => NaiveDate::from_ymd_opt(2019, 4, 1),
        ANA => NaiveDate::from_ymd_opt(2023, 9, 4),
        SOFIA => NaiveDate::from_ymd_opt(2021, 1, 11),
        _ => None,
    }
}

pub(super) fn person(people: &People, email: &str) -> AppResult<Caller> {
    people
        .get(email)
        .cloned()
        .ok_or_else(|| AppError::internal(format!("demo member {email} missing")))
}
