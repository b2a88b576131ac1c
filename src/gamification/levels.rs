//! Levels from lifetime points, with named thresholds set per organisation.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{AppError, AppResult, FieldError};
use crate::schema::level_settings;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Level {
    pub name: String,
    /// Lifetime points needed.
    pub points: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LevelProgress {
    pub current: Level,
    /// 1 for the first level.
    pub number: usize,
    /// Absent at the top level.
    pub next: Option<Level>,
    pub points_to_next: Option<i64>,
    /// 0-100: how far from this level's threshold to the next one.
    pub percent_to_next: Option<f64>,
}

pub async fn load(conn: &mut AsyncPgConnection, org: Uuid) -> AppResult<Vec<Level>> {
    let raw: serde_json::Value = level_settings::table
        .find(org)
        .select(level_settings::levels)
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::internal("organisation has no level settings"))?;
    serde_json::from_value(raw)
        .map_err(|e| AppError::internal(format!("stored levels are malformed: {e}")))
}

/// Levels must start at 0, ascend strictly, and have distinct non-empty names.
pub fn validate(levels: &[Level]) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    if levels.is_empty() || levels.len() > 50 {
        errors.push(FieldError::new("levels", "give 1 to 50 levels"));
    }
    for (i, l) in levels.iter().enumerate() {
        let name = l.name.trim();
        // Shown to every member beside their name: no control characters (PostgreSQL refuses
        // NUL outright), nothing that hides or reorders text.
        crate::validation::text(&format!("levels[{i}].name"), name, 60, &mut errors);
        if i == 0 && l.points != 0 {
            errors.push(FieldError::new(
                "levels[0].points",
                "the first level starts at 0 points",
            ));
        }
        if i > 0 && l.points <= levels[i - 1].points {
            errors.push(FieldError::new(
                format!("levels[{i}].points"),
                "must be more than the level before",
            ));
        }
        if levels[..i]
            .iter()
            .any(|o| o.name.trim().eq_ignore_ascii_case(name))
        {
            errors.push(FieldError::new(
                format!("levels[{i}].name"),
                "is used by another level",
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

pub fn progress(levels: &[Level], lifetime: i64) -> LevelProgress {
    let index = levels
        .iter()
        .rposition(|l| lifetime >= l.points)
        .unwrap_or(0);
    let current = levels.get(index).cloned().unwrap_or(Level {
        name: "Newcomer".into(),
        points: 0,
    });
    let next = levels.get(index + 1).cloned();
    let points_to_next = next.as_ref().map(|n| (n.points - lifetime).max(0));
    let percent_to_next = next.as_ref().map(|n| {
        let span = (n.points - current.points).max(1) as f64;
        (((lifetime - current.points).max(0) as f64 / span) * 100.0).clamp(0.0, 100.0)
    });
    LevelProgress {
        current,
        number: index + 1,
        next,
        points_to_next,
        percent_to_next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels() -> Vec<Level> {
        vec![
            Level {
                name: "Newcomer".into(),
                points: 0,
            },
            Level {
                name: "Contributor".into(),
                points: 100,
            },
            Level {
                name: "Champion".into(),
                points: 500,
            },
        ]
    }

    #[test]
    fn progress_to_the_next_level() {
        let p = progress(&levels(), 300);
        assert_eq!(p.current.name, "Contributor");
        assert_eq!(p.number, 2);
        assert_eq!(p.points_to_next, Some(200));
        assert_eq!(p.percent_to_next, Some(50.0));
        let top = progress(&levels(), 9000);
        assert_eq!(top.current.name, "Champion");
        assert!(top.next.is_none());
        assert_eq!(progress(&levels(), -5).current.name, "Newcomer");
    }

    #[test]
    fn levels_must_ascend_from_zero() {
        assert!(validate(&levels()).is_ok());
        let mut bad = levels();
        bad[2].points = 100;
        assert!(validate(&bad).is_err());
        bad = levels();
        bad[0].points = 5;
        assert!(validate(&bad).is_err());
        assert!(validate(&[]).is_err());
    }
}
