//! What clients send to the member endpoints, and its checking.

use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::NewMember;
use super::dates::DatesChange;
use crate::auth::{Role, passwords};
use crate::error::{AppResult, FieldError};
use crate::http::check;
use crate::validation;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMember {
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub team_id: Option<Uuid>,
    /// An initial password. Without one, the response carries an invite token instead.
    pub password: Option<String>,
    /// Birthday without a year, `--MM-DD` (`--02-29` allowed).
    #[schema(
        pattern = "^--(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$",
        example = "--03-14"
    )]
    pub birth_date: Option<String>,
    /// The day they started, `YYYY-MM-DD` (at most a year from today).
    #[schema(value_type = Option<chrono::NaiveDate>)]
    pub started_on: Option<String>,
    /// The number their employer knows them by (1-64 letters, digits, `-`, `_`, `.` or `/`),
    /// unique in the organisation regardless of case; they may sign in with it.
    pub employee_number: Option<String>,
}

impl CreateMember {
    /// The member to create, every field checked (and the password hashed, if one is given).
    pub async fn parse(self, hasher: &passwords::Hasher) -> AppResult<NewMember> {
        let mut errors = Vec::new();
        let email = validation::email("email", &self.email, &mut errors);
        let display_name = validation::text("display_name", &self.display_name, 120, &mut errors);
        if let Some(p) = &self.password {
            validation::password("password", p, Some(&email), &mut errors);
        }
        let dates = DatesChange::parse(
            self.birth_date.as_deref().map(Some),
            self.started_on.as_deref().map(Some),
            &mut errors,
        );
        let employee_number = self
            .employee_number
            .as_deref()
            .map(|n| validation::employee_number("employee_number", n, &mut errors));
        check(errors)?;
        let password_hash = match self.password {
            Some(p) => Some(hasher.hash(p).await?),
            None => None,
        };
        Ok(NewMember {
            email,
            display_name,
            role: self.role,
            team_id: self.team_id,
            password_hash,
            birth_date: dates.birth_date.flatten(),
            started_on: dates.started_on.flatten(),
            employee_number,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema, Default)]
// Every field is optional (a PATCH changes what it names): documented as not required.
#[serde(deny_unknown_fields, default)]
pub struct UpdateMember {
    pub display_name: Option<String>,
    pub email: Option<String>,
    /// Birthday without a year, `--MM-DD`; null clears it.
    #[serde(deserialize_with = "validation::present")]
    #[schema(value_type = Option<String>, pattern = "^--(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$", example = "--03-14")]
    pub birth_date: Option<Option<String>>,
    /// The day they started, `YYYY-MM-DD`; null clears it.
    #[serde(deserialize_with = "validation::present")]
    #[schema(value_type = Option<chrono::NaiveDate>)]
    pub started_on: Option<Option<String>>,
    /// The number their employer knows them by (see creating a member); null clears it.
    #[serde(deserialize_with = "validation::present")]
    #[schema(value_type = Option<String>)]
    pub employee_number: Option<Option<String>>,
}

/// A member's own changes to their profile: their personal dates.
#[derive(Debug, Deserialize, ToSchema, Default)]
// Every field is optional (absent: left as it is).
#[serde(deny_unknown_fields, default)]
pub struct UpdateMe {
    /// Birthday without a year, `--MM-DD`; null clears it.
    #[serde(deserialize_with = "validation::present")]
    #[schema(value_type = Option<String>, pattern = "^--(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$", example = "--03-14")]
    pub birth_date: Option<Option<String>>,
    /// The day they started, `YYYY-MM-DD`; null clears it.
    #[serde(deserialize_with = "validation::present")]
    #[schema(value_type = Option<chrono::NaiveDate>)]
    pub started_on: Option<Option<String>>,
}

/// The personal dates a body asks to change, each bad value noted in `errors`.
fn dates_change(
    birth_date: &Option<Option<String>>,
    started_on: &Option<Option<String>>,
    errors: &mut Vec<FieldError>,
) -> DatesChange {
    DatesChange::parse(
        birth_date.as_ref().map(Option::as_deref),
        started_on.as_ref().map(Option::as_deref),
        errors,
    )
}

impl UpdateMember {
    /// The personal dates it changes, each bad value noted in `errors`.
    pub fn dates(&self, errors: &mut Vec<FieldError>) -> DatesChange {
        dates_change(&self.birth_date, &self.started_on, errors)
    }
}

impl UpdateMe {
    /// The personal dates it changes, each bad value noted in `errors`.
    pub fn dates(&self, errors: &mut Vec<FieldError>) -> DatesChange {
        dates_change(&self.birth_date, &self.started_on, errors)
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRole {
    pub role: Role,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveMember {
    pub team_id: Uuid,
}
