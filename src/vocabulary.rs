//! The domain's fixed vocabularies (see domain.md): CX dimensions, channels, journey stages.

/// A fixed vocabulary: an enum serialised as the names given (snake_case, or another wire form
/// such as `organisation-setting`), with `ALL`, `as_str`,
/// `parse` (`None` for an unknown name), `parse_field` (a `FieldError` naming `field`),
/// `FromStr` (whose error names the field given as `field = "..."` after the braces, or the
/// type), `param` (a query parameter with its default) and `Display`. Every area's vocabularies use it, so they read and print alike.
macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:tt),+ $(,)? }) => {
        $crate::vocabulary::vocabulary!(
            $(#[$doc])* $name { $($(#[$vdoc])* $variant = $text),+ } field = stringify!($name)
        );
    };
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:tt),+ $(,)? } field = $field:expr) => {
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash,
            ::serde::Serialize, ::serde::Deserialize, ::utoipa::ToSchema,
        )]
        // After the derive: the doc attributes may carry its helpers (`#[schema(as = ...)]`).
        $(#[$doc])*
        pub enum $name { $($(#[$vdoc])* #[serde(rename = $text)] $variant),+ }

        impl $name {
            pub const ALL: [$name; [$(stringify!($variant)),+].len()] = [$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The value named `raw`, if any.
            pub fn parse(raw: &str) -> Option<$name> {
                $name::ALL.into_iter().find(|v| v.as_str() == raw)
            }

            /// Parse a stored or query value; `field` names it in the error.
            pub fn parse_field(
                raw: &str,
                field: &str,
            ) -> Result<$name, $crate::error::FieldError> {
                $name::parse(raw).ok_or_else(|| $crate::error::FieldError::new(field, format!(
                    "must be one of {}",
                    $name::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
                )))
            }
        }

        impl $name {
            /// A query parameter: `default` when absent; an unknown name is noted in `errors`
            /// (naming the field as `FromStr` does) and gives `None`.
            pub fn param(
                raw: Option<&str>,
                default: $name,
                errors: &mut Vec<$crate::error::FieldError>,
            ) -> Option<$name> {
                match raw {
                    None => Some(default),
                    Some(raw) => raw.parse().map_err(|e| errors.push(e)).ok(),
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::error::FieldError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::parse_field(s, $field)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use vocabulary;

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
