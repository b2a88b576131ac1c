//! Domain values that are valid once constructed. Each parser takes the field name so that the
//! problem document can say which input was wrong.

use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::error::{AppResult, FieldError};

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

#[cfg(test)]
mod tests {
    use super::*;

    fn errs(f: impl FnOnce(&mut Vec<FieldError>)) -> Vec<FieldError> {
        let mut e = Vec::new();
        f(&mut e);
        e
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
