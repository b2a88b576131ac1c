//! Domain values that are valid once constructed. Each parser takes the field name so that the
//! problem document can say which input was wrong, and pushes its complaint onto the caller's
//! list instead of returning early, so that one 422 names every offending field.

use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Deserializer};

use crate::error::{AppResult, FieldError};

/// A field the body must carry: `None` is reported as missing.
pub fn required<T>(field: &str, value: Option<T>, errors: &mut Vec<FieldError>) -> Option<T> {
    if value.is_none() {
        errors.push(FieldError::new(field, "is required"));
    }
    value
}

/// The value of a parser that names its own field (`Dimension::parse_field`, ...), its error
/// collected with the others.
pub fn parsed<T>(result: Result<T, FieldError>, errors: &mut Vec<FieldError>) -> Option<T> {
    result.map_err(|e| errors.push(e)).ok()
}

/// A body field where `null` and absence differ: a present field, even `null`, is `Some`
/// (`null` means "clear it", absence "leave it"). Use with `#[serde(default, deserialize_with)]`.
pub fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Trimmed text of at most `max` characters that may span lines (line breaks and tabs are the
/// only control characters allowed); empty allowed when `min_one` is false.
pub fn long_text(
    field: &str,
    raw: &str,
    max: usize,
    min_one: bool,
    errors: &mut Vec<FieldError>,
) -> String {
    let value = raw.trim();
    if min_one && value.is_empty() {
        errors.push(FieldError::new(field, "must not be empty"));
    } else if value.chars().count() > max {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    } else if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        errors.push(FieldError::new(
            field,
            "must not contain control characters other than line breaks and tabs",
        ));
    } else if has_deceptive_characters(value) {
        errors.push(FieldError::new(field, DECEPTIVE_CHARACTERS));
    }
    value.to_string()
}

/// Optional [`long_text`]: absent, `null` or blank is `None`.
pub fn optional_text(
    field: &str,
    raw: Option<&str>,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    raw.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| long_text(field, s, max, true, errors))
}

/// A rating on the 1-5 scale.
pub fn rating(field: &str, value: i64, errors: &mut Vec<FieldError>) -> Option<i16> {
    match i16::try_from(value) {
        Ok(v) if (1..=5).contains(&v) => Some(v),
        _ => {
            errors.push(FieldError::new(field, "must be a whole number from 1 to 5"));
            None
        }
    }
}

/// Trimmed text of bounded length.
pub fn text(field: &str, raw: &str, max: usize, errors: &mut Vec<FieldError>) -> String {
    let value = raw.trim();
    if value.is_empty() {
        errors.push(FieldError::new(field, "must not be empty"));
    } else if value.chars().count() > max {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    } else if value.chars().any(|c| c.is_control()) {
        errors.push(FieldError::new(
            field,
            "must not contain control characters",
        ));
    } else if has_deceptive_characters(value) {
        errors.push(FieldError::new(field, DECEPTIVE_CHARACTERS));
    }
    value.to_string()
}

/// Why text with [`has_deceptive_characters`] is refused.
pub const DECEPTIVE_CHARACTERS: &str =
    "must not contain bidirectional-override or zero-width characters";

/// Bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) reorder
/// what a reader sees ("Trojan Source"), and zero-width characters (U+200B-U+200D, U+2060,
/// U+FEFF) make two names that look the same differ: in names, titles and messages other
/// members read, both only serve to deceive.
pub fn has_deceptive_characters(value: &str) -> bool {
    value.chars().any(|c| {
        matches!(
            c,
            '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200B}'..='\u{200D}'
                | '\u{2060}'
                | '\u{FEFF}'
        )
    })
}

/// The longest free-text query parameter (a search) we accept.
pub const MAX_SEARCH_LENGTH: usize = 100;

/// A free-text query parameter such as `q=`: trimmed, blank is `None`, at most
/// [`MAX_SEARCH_LENGTH`] characters, no control characters. Bounded because it ends up in an
/// `ILIKE` pattern that PostgreSQL matches against every candidate row.
pub fn search(field: &str, raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<String> {
    let value = raw.map(str::trim).filter(|v| !v.is_empty())?;
    if value.chars().count() > MAX_SEARCH_LENGTH {
        errors.push(FieldError::new(
            field,
            format!("must be at most {MAX_SEARCH_LENGTH} characters"),
        ));
        return None;
    }
    if value.chars().any(char::is_control) {
        errors.push(FieldError::new(
            field,
            "must not contain control characters",
        ));
        return None;
    }
    Some(value.to_string())
}

/// An email address, lower-cased. Deliberately permissive (RFC 5322 is larger than any regex):
/// one `@`, something on each side, a dot in the domain, no spaces.
pub fn email(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> String {
    let value = raw.trim().to_lowercase();
    let valid = value.len() <= 254
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
        && match value.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
    if !valid {
        errors.push(FieldError::new(
            field,
            "must be an email address such as ana@example.com",
        ));
    }
    value
}

/// An organisation slug: what people type at login, so short and URL-safe.
pub fn slug(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> String {
    let value = raw.trim().to_string();
    let valid = (1..=63).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if !valid {
        errors.push(FieldError::new(
            field,
            "must be 1-63 lower-case letters, digits or hyphens, not starting or ending with a hyphen",
        ));
    }
    value
}

/// An IANA time zone name such as `Europe/Oslo`.
pub fn time_zone(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> String {
    let value = raw.trim();
    match value.parse::<chrono_tz::Tz>() {
        Ok(tz) => tz.name().to_string(),
        Err(_) => {
            errors.push(FieldError::new(
                field,
                "must be an IANA time zone name such as Europe/Oslo or UTC",
            ));
            value.to_string()
        }
    }
}

#[derive(diesel::QueryableByName)]
struct Known {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    known: bool,
}

/// Whether PostgreSQL's time zone database knows `zone` (a name [`time_zone`] accepted).
/// Periods and boards are computed in SQL with `AT TIME ZONE`: a zone that chrono-tz knows
/// but the server's tzdata does not (an older PostgreSQL, a zone added since) would make every
/// later ledger insert fail, so it is refused when it is set.
pub async fn time_zone_known_to_database(
    conn: &mut AsyncPgConnection,
    field: &str,
    zone: &str,
    errors: &mut Vec<FieldError>,
) -> AppResult<()> {
    let found: Known = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1) AS known",
    )
    .bind::<Text, _>(zone)
    .get_result(conn)
    .await?;
    if !found.known {
        errors.push(FieldError::new(
            field,
            "is a time zone the database does not know; choose another name for it",
        ));
    }
    Ok(())
}

pub const MIN_PASSWORD_LENGTH: usize = 12;
pub const MAX_PASSWORD_LENGTH: usize = 256;

/// NIST SP 800-63B: length over composition rules, and refuse the obviously guessable.
pub fn password(field: &str, raw: &str, email: Option<&str>, errors: &mut Vec<FieldError>) {
    let len = raw.chars().count();
    let lower = raw.to_lowercase();
    let message = if len < MIN_PASSWORD_LENGTH {
        Some(format!(
            "is too short: use at least {MIN_PASSWORD_LENGTH} characters (a few words make a strong one)"
        ))
    } else if len > MAX_PASSWORD_LENGTH {
        Some(format!("must be at most {MAX_PASSWORD_LENGTH} characters"))
    } else if raw.chars().all(|c| raw.starts_with(c)) {
        Some("is too weak: it repeats one character".to_string())
    } else if residue(&lower, COMMON_PASSWORDS.iter().copied()) < 6 {
        Some("is too weak: it is built on a commonly used password".to_string())
    } else if email.is_some_and(|e| {
        let local = e.split('@').next().unwrap_or(e).to_lowercase();
        local.len() >= 3 && residue(&lower, std::iter::once(local.as_str())) < 6
    }) {
        Some("is too weak: it is built on your email address".to_string())
    } else if is_sequence(raw) {
        Some("is too weak: it is a keyboard or number sequence".to_string())
    } else {
        None
    };
    if let Some(m) = message {
        errors.push(FieldError::new(field, m));
    }
}

/// How many characters are left once the guessable words are taken out: "password2024" leaves
/// four, which is what an attacker's word list plus a few guesses covers.
fn residue<'a>(password: &str, words: impl Iterator<Item = &'a str>) -> usize {
    let mut rest = password.to_string();
    for w in words {
        rest = rest.replace(w, "");
    }
    rest.chars().count()
}

/// "abcdef...", "987654..." or "1234567890" (one wrap-around allowed).
fn is_sequence(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.len() < 2 {
        return false;
    }
    let steps = bytes.len() - 1;
    let up = bytes
        .windows(2)
        .filter(|w| w[1] == w[0].wrapping_add(1))
        .count();
    let down = bytes
        .windows(2)
        .filter(|w| w[1] == w[0].wrapping_sub(1))
        .count();
    up + 1 >= steps || down + 1 >= steps
}

const COMMON_PASSWORDS: &[&str] = &[
    "password", "passw0rd", "123456", "qwerty", "letmein", "welcome", "iloveyou", "admin",
    "abc123", "monkey", "dragon", "sunshine", "football", "changeme", "secret",
];

/// The longest employee number.
const MAX_EMPLOYEE_NUMBER: usize = 64;

/// An employee number as given, trimmed: 1-64 of letters, digits and `-_./`.
pub fn employee_number(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> String {
    let number = raw.trim();
    if number.is_empty() || number.chars().count() > MAX_EMPLOYEE_NUMBER {
        errors.push(FieldError::new(
            field,
            format!("must be 1 to {MAX_EMPLOYEE_NUMBER} characters"),
        ));
    } else if !number
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
    {
        errors.push(FieldError::new(
            field,
            "may hold only letters, digits and - _ . /",
        ));
    }
    number.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errs(f: impl FnOnce(&mut Vec<FieldError>)) -> Vec<FieldError> {
        let mut e = Vec::new();
        f(&mut e);
        e
    }

    #[test]
    fn required_names_the_missing_field() {
        let mut e = Vec::new();
        assert_eq!(required("title", Some(3), &mut e), Some(3));
        assert!(e.is_empty());
        assert_eq!(required::<i32>("title", None, &mut e), None);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].field, "title");
    }

    #[test]
    fn parsed_collects_the_error() {
        let mut e = Vec::new();
        assert_eq!(parsed(Ok::<_, FieldError>(1), &mut e), Some(1));
        assert_eq!(
            parsed::<i32>(Err(FieldError::new("x", "bad")), &mut e),
            None
        );
        assert_eq!(e.len(), 1);
    }

    #[test]
    fn present_tells_null_from_absent() {
        #[derive(Deserialize)]
        struct Body {
            #[serde(default, deserialize_with = "present")]
            v: Option<Option<String>>,
        }
        let absent: Body = serde_json::from_str("{}").unwrap();
        let null: Body = serde_json::from_str(r#"{"v":null}"#).unwrap();
        let set: Body = serde_json::from_str(r#"{"v":"a"}"#).unwrap();
        assert_eq!(absent.v, None);
        assert_eq!(null.v, Some(None));
        assert_eq!(set.v, Some(Some("a".into())));
    }

    #[test]
    fn long_texts() {
        assert_eq!(
            long_text("d", " two\nlines\t ", 100, true, &mut Vec::new()),
            "two\nlines"
        );
        assert!(errs(|e| drop(long_text("d", "  ", 100, false, e))).is_empty());
        assert_eq!(errs(|e| drop(long_text("d", "  ", 100, true, e))).len(), 1);
        assert_eq!(errs(|e| drop(long_text("d", "abc", 2, false, e))).len(), 1);
        assert_eq!(
            errs(|e| drop(long_text("d", "a\u{7}b", 10, false, e))).len(),
            1
        );
        assert_eq!(
            errs(|e| drop(long_text("d", "a\u{202E}b", 10, false, e))).len(),
            1
        );
    }

    #[test]
    fn optional_texts() {
        assert_eq!(optional_text("n", None, 10, &mut Vec::new()), None);
        assert_eq!(optional_text("n", Some("  "), 10, &mut Vec::new()), None);
        assert_eq!(
            optional_text("n", Some(" a "), 10, &mut Vec::new()).as_deref(),
            Some("a")
        );
        assert_eq!(
            errs(|e| drop(optional_text("n", Some("abc"), 2, e))).len(),
            1
        );
    }

    #[test]
    fn ratings() {
        assert_eq!(rating("ease", 1, &mut Vec::new()), Some(1));
        assert_eq!(rating("ease", 5, &mut Vec::new()), Some(5));
        for bad in [0, 6, -1, i64::MAX] {
            assert_eq!(
                errs(|e| {
                    rating("ease", bad, e);
                })
                .len(),
                1,
                "{bad}"
            );
        }
    }

    #[test]
    fn emails() {
        assert!(
            errs(|e| {
                email("email", " Ana@Example.COM ", e);
            })
            .is_empty()
        );
        assert_eq!(
            errs(|e| {
                email("email", "ana", e);
            })
            .len(),
            1
        );
        assert_eq!(
            errs(|e| {
                email("email", "ana@localhost", e);
            })
            .len(),
            1
        );
        assert_eq!(
            errs(|e| {
                email("email", "a b@x.io", e);
            })
            .len(),
            1
        );
    }

    #[test]
    fn passwords() {
        assert!(errs(|e| password("p", "correct horse battery", None, e)).is_empty());
        assert_eq!(errs(|e| password("p", "short", None, e)).len(), 1);
        assert_eq!(errs(|e| password("p", "aaaaaaaaaaaaaaa", None, e)).len(), 1);
        assert_eq!(errs(|e| password("p", "password1234", None, e)).len(), 1);
        assert_eq!(errs(|e| password("p", "123456789012", None, e)).len(), 1);
    }

    #[test]
    fn deceptive_characters() {
        for bad in [
            "Ana\u{202E}nimda",
            "a\u{2066}b",
            "zero\u{200B}width",
            "joiner\u{200D}",
            "word\u{2060}joiner",
            "\u{FEFF}bom",
        ] {
            assert_eq!(
                errs(|e| drop(text("name", bad, 100, e))).len(),
                1,
                "{bad:?}"
            );
        }
        assert!(errs(|e| drop(text("name", "Zoë Ångström 🎉", 100, e))).is_empty());
    }

    #[test]
    fn searches() {
        assert_eq!(search("q", Some("  "), &mut Vec::new()), None);
        assert_eq!(
            search("q", Some(" ab "), &mut Vec::new()).as_deref(),
            Some("ab")
        );
        let long = "x".repeat(MAX_SEARCH_LENGTH + 1);
        assert_eq!(errs(|e| drop(search("q", Some(&long), e))).len(), 1);
    }

    #[test]
    fn slugs_and_zones() {
        assert!(
            errs(|e| {
                slug("slug", "acme-cx", e);
            })
            .is_empty()
        );
        assert_eq!(
            errs(|e| {
                slug("slug", "-acme", e);
            })
            .len(),
            1
        );
        assert_eq!(
            errs(|e| {
                slug("slug", "Acme", e);
            })
            .len(),
            1
        );
        assert!(
            errs(|e| {
                time_zone("tz", "Europe/Oslo", e);
            })
            .is_empty()
        );
        assert_eq!(
            errs(|e| {
                time_zone("tz", "Mars/Olympus", e);
            })
            .len(),
            1
        );
    }
}
