//! `frontline bootstrap`: an organisation and its first admin, for a real deployment.

use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use crate::auth::{Role, passwords};
use crate::error::AppResult;
use crate::http::check;
use crate::members::{NewMember, queries as members};
use crate::{organisations as orgs, validation};

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
            birth_date: None,
            started_on: None,
            employee_number: None,
        },
        None,
    )
    .await?;
    // The first admin has nobody to be created by: the entry names them, and the CLI.
    crate::audit::record(
        conn,
        org.id,
        crate::audit::Actor::Member(admin),
        crate::audit::Action::MemberCreated,
        Some(("member", admin)),
        serde_json::json!({ "role": "admin", "password_set": true, "via": "bootstrap" }),
    )
    .await?;
    Ok((org.id, admin))
}
