//! Password hashing: argon2id at OWASP's minimum (19 MiB, 2 passes, 1 lane).
//!
//! Hashing takes tens of milliseconds of CPU by design, so it runs on Tokio's blocking pool,
//! never on the async executor. An unknown account is verified against a dummy hash so that
//! "no such email" and "wrong password" take the same time.

use std::sync::OnceLock;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::AppError;

fn argon2() -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet: m=19456 KiB, t=2, p=1.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_now(password: &str) -> Result<String, AppError> {
    argon2()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AppError::internal(format!("password hashing failed: {e}")))
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_now("frontline-timing-equaliser").unwrap_or_default())
}

/// Compute the dummy hash up front, so the first failed login is not faster than the rest.
pub fn warm_up() {
    let _ = dummy_hash();
}

pub async fn hash(password: String) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || hash_now(&password)).await?
}

/// True when `password` matches `stored`. With no stored hash (unknown member, or an invited
/// member who has not chosen a password yet) it burns the same time and answers false.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, AppError> {
    tokio::task::spawn_blocking(move || {
        let (phc, known) = match stored.as_deref() {
            Some(s) => (s, true),
            None => (dummy_hash(), false),
        };
        let parsed = match PasswordHash::new(phc) {
            Ok(p) => p,
            Err(_) => return false,
        };
        let ok = argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        known && ok
    })
    .await
    .map_err(AppError::from)
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn hash_and_verify() {
        let h = super::hash("a long enough secret".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            super::verify("a long enough secret".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(!super::verify("wrong".into(), Some(h)).await.unwrap());
        assert!(
            !super::verify("frontline-timing-equaliser".into(), None)
                .await
                .unwrap()
        );
    }
}
