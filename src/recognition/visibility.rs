//! Who may see a recognition. `public` ones the whole organisation; `team` ones the giver, the
//! recipients and the members of the recipients' teams (their leads included); `private` ones
//! the giver, the recipients, the leads of the recipients' teams, and HR. Admins see every one,
//! hidden ones included (they moderate). Points count on boards whatever the visibility; a
//! board never shows a message.
//!
//! The rule is one SQL condition on `recognitions`, so the feed filters in the database and a
//! page is never short of what the caller may see.

use diesel::dsl::sql;
use diesel::expression::SqlLiteral;
use diesel::sql_types::Bool;
use uuid::Uuid;

use crate::auth::{Caller, Role};
use crate::vocabulary::vocabulary;

vocabulary!(
    /// Who may see a recognition.
    Visibility {
        /// The organisation's feed (the default).
        Public = "public",
        /// The recipients' teams (their leads included), the giver and the recipients.
        Team = "team",
        /// The giver, the recipients, their teams' leads and HR.
        Private = "private",
    } field = "visibility"
);

/// Who is looking.
#[derive(Debug, Clone, Copy)]
pub struct Viewer {
    pub member: Uuid,
    pub role: Role,
    pub team: Option<Uuid>,
}

impl From<&Caller> for Viewer {
    fn from(c: &Caller) -> Viewer {
        Viewer {
            member: c.member_id,
            role: c.role,
            team: c.team_id,
        }
    }
}

impl Viewer {
    /// The condition on `recognitions` under which this viewer sees a row. The ids are typed
    /// `Uuid`s of the caller's own session, so writing them into the text cannot inject.
    pub fn condition(&self) -> SqlLiteral<Bool> {
        sql::<Bool>(&self.condition_text("recognitions"))
    }

    /// [`Viewer::condition`] for a table named `r`.
    pub fn condition_text(&self, r: &str) -> String {
        match self.role {
            Role::Admin => "TRUE".into(),
            Role::Hr => format!("{r}.hidden_at IS NULL"),
            Role::Employee | Role::TeamLead => {
                let me = self.member;
                // The viewer's team sees `team` recognitions of its members; a lead sees
                // `private` ones too.
                let team = match (self.team, self.role) {
                    (Some(t), Role::TeamLead) => format!(" OR v.team_id = '{t}'::uuid"),
                    (Some(t), _) => {
                        format!(" OR ({r}.visibility = 'team' AND v.team_id = '{t}'::uuid)")
                    }
                    (None, _) => String::new(),
                };
                format!(
                    "{r}.hidden_at IS NULL AND ({r}.visibility = 'public' \
                     OR {r}.giver_id = '{me}'::uuid \
                     OR EXISTS (SELECT 1 FROM recognition_recipients v \
                                WHERE v.recognition_id = {r}.id \
                                  AND (v.member_id = '{me}'::uuid{team})))"
                )
            }
        }
    }
}
