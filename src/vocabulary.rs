//! The domain's fixed vocabularies (see domain.md): CX dimensions, channels, journey stages.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::FieldError;

macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parse a stored or query value; `field` names it in the error.
            pub fn parse_field(raw: &str, field: &str) -> Result<$name, FieldError> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == raw)
                    .ok_or_else(|| FieldError::new(field, format!(
                        "must be one of {}",
                        $name::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
                    )))
            }
        }

        impl FromStr for $name {
            type Err = FieldError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::parse_field(s, stringify!($name))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary!(
    /// The six areas every customer experience breaks down into.
    Dimension {
        Trust = "trust",
        ProblemSolving = "problem_solving",
        TimeAndEffort = "time_and_effort",
        Expectations = "expectations",
        Personalisation = "personalisation",
        Empathy = "empathy",
    }
);

vocabulary!(
    /// Where the customer met us.
    Channel {
        Phone = "phone",
        InPerson = "in_person",
        Email = "email",
        Chat = "chat",
        Social = "social",
        App = "app",
        Web = "web",
        Mail = "mail",
    }
);

vocabulary!(
    /// When in the customer's journey: before, during or after the purchase or service moment.
    JourneyStage {
        Before = "before",
        During = "during",
        After = "after",
    }
);
