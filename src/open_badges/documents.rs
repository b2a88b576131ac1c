//! The Open Badges 2.0 documents, built from rows: what `public` serves and the wallet
//! download embeds. Required properties per class (spec `ob_v2p0`): Issuer `id type name url
//! email`; BadgeClass `id type name description image criteria issuer`; Assertion `id type
//! recipient badge verification issuedOn`; a revoked hosted Assertion only `id` and `revoked`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::queries::{AssertionRow, BadgeClassRow, IssuerRow};
use super::{CONTEXT, Urls};
use crate::gamification::badges::Criterion;

/// ISO 8601 with its zone, as `issuedOn` requires.
pub fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The organisation as the issuer. `email` is required by the spec: the organisation's
/// `badge_contact_email`, else its first admin's (see `queries::issuer`).
pub fn issuer(urls: Urls<'_>, row: &IssuerRow) -> Value {
    let mut doc = json!({
        "@context": CONTEXT,
        "type": "Issuer",
        "id": urls.issuer(row.id),
        "name": row.name,
        "url": urls.base(),
        "revocationList": urls.revocations(row.id),
    });
    if let Some(email) = &row.email {
        doc["email"] = json!(email);
    }
    doc
}

/// What earns the badge, in words (the BadgeClass's `criteria.narrative`).
pub fn criteria_narrative(row: &BadgeClassRow) -> String {
    let n = row.threshold;
    let plural = |one: &str, many: &str| {
        if n == 1 {
            one.to_string()
        } else {
            many.to_string()
        }
    };
    let dimension = row
        .dimension
        .as_deref()
        .map(|d| format!(" in the {} dimension", d.replace('_', " ")))
        .unwrap_or_default();
    match Criterion::parse(&row.criterion) {
        Some(Criterion::InitiativesApproved) => format!(
            "{n} approved customer-experience {}{dimension}.",
            plural("initiative", "initiatives")
        ),
        Some(Criterion::InitiativesInOneDimension) => format!(
            "{n} approved customer-experience {} in one dimension{dimension}.",
            plural("initiative", "initiatives")
        ),
        Some(Criterion::InitiativesMeasured) => format!(
            "{n} customer-experience {} with a measured outcome.",
            plural("initiative", "initiatives")
        ),
        Some(Criterion::RecognitionsReceived) => {
            format!("Recognised by colleagues {n} {}.", plural("time", "times"))
        }
        Some(Criterion::RecognitionsGiven) => {
            format!("Recognised colleagues {n} {}.", plural("time", "times"))
        }
        Some(Criterion::WeeklyStreak) => {
            format!("Active {n} {} in a row.", plural("week", "weeks"))
        }
        Some(Criterion::CrossTeamContributions) => format!(
            "Contributed to {n} approved {} of other teams.",
            plural("initiative", "initiatives")
        ),
        Some(Criterion::LifetimePoints) => format!("Earned {n} points."),
        Some(Criterion::Challenge) => "Completed a challenge that awards this badge.".into(),
        None => format!("{} ({n}).", row.criterion),
    }
}

/// The badge as a BadgeClass; `issuer` is the Issuer's IRI, or the Issuer itself (embedded).
pub fn badge_class(urls: Urls<'_>, row: &BadgeClassRow, issuer: Value) -> Value {
    let narrative = criteria_narrative(row);
    // The spec requires a description; a badge defined without one describes its criterion.
    let description = if row.description.trim().is_empty() {
        narrative.clone()
    } else {
        row.description.clone()
    };
    json!({
        "@context": CONTEXT,
        "type": "BadgeClass",
        "id": urls.badge(row.id),
        "name": row.name,
        "description": description,
        "image": urls.image(row.id),
        "criteria": { "narrative": narrative },
        "issuer": issuer,
    })
}

/// A standing assertion; `badge` is the BadgeClass's IRI, or the BadgeClass itself.
/// `None` for an assertion that is revoked or whose recipient was forgotten: see [`revoked`].
pub fn assertion(urls: Urls<'_>, row: &AssertionRow, badge: Value) -> Option<Value> {
    if row.revoked_at.is_some() {
        return None;
    }
    let (salt, hash) = (row.recipient_salt.as_ref()?, row.recipient_hash.as_ref()?);
    Some(json!({
        "@context": CONTEXT,
        "type": "Assertion",
        "id": urls.assertion(row.id),
        "recipient": { "type": "email", "hashed": true, "salt": salt, "identity": hash },
        "badge": badge,
        "verification": { "type": "hosted" },
        "issuedOn": instant(row.issued_on),
    }))
}

/// What a revoked assertion's URL answers (with `410 Gone`): its id, `revoked` and the reason.
pub fn revoked(urls: Urls<'_>, id: Uuid, reason: Option<&str>) -> Value {
    json!({
        "@context": CONTEXT,
        "type": "Assertion",
        "id": urls.assertion(id),
        "revoked": true,
        "revocationReason": reason.unwrap_or("revoked"),
    })
}

/// The issuer's revoked assertions.
pub fn revocation_list(urls: Urls<'_>, org: Uuid, revoked: &[(Uuid, String)]) -> Value {
    json!({
        "@context": CONTEXT,
        "type": "RevocationList",
        "id": urls.revocations(org),
        "issuer": urls.issuer(org),
        "revokedAssertions": revoked
            .iter()
            .map(|(id, reason)| json!({ "id": urls.assertion(*id), "revocationReason": reason }))
            .collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    const URLS: Urls<'static> = Urls("https://fl.example.com");

    fn badge_row() -> BadgeClassRow {
        BadgeClassRow {
            organisation_id: Uuid::nil(),
            id: Uuid::from_u128(2),
            name: "First win".into(),
            description: String::new(),
            criterion: "initiatives_approved".into(),
            threshold: 1,
            dimension: None,
        }
    }

    fn assertion_row() -> AssertionRow {
        AssertionRow {
            organisation_id: Uuid::nil(),
            id: Uuid::from_u128(3),
            badge_id: Uuid::from_u128(2),
            member_id: Uuid::from_u128(4),
            issued_on: DateTime::parse_from_rfc3339("2026-12-01T09:30:00Z")
                .unwrap()
                .with_timezone(&Utc),
            recipient_salt: Some("abc123".into()),
            recipient_hash: Some("sha256$x".into()),
            revoked_at: None,
            revocation_reason: None,
        }
    }

    fn has_all(doc: &Value, keys: &[&str]) {
        for key in keys {
            assert!(
                doc.get(key).is_some_and(|v| !v.is_null() && v != ""),
                "{key} missing in {doc}"
            );
        }
    }

    #[test]
    fn each_class_has_its_required_properties() {
        let issuer_row = IssuerRow {
            id: Uuid::from_u128(1),
            name: "Acme".into(),
            email: Some("badges@acme.example".into()),
        };
        let i = issuer(URLS, &issuer_row);
        has_all(&i, &["@context", "id", "type", "name", "url", "email"]);
        assert_eq!(i["type"], "Issuer");
        let b = badge_class(URLS, &badge_row(), json!(URLS.issuer(Uuid::from_u128(1))));
        has_all(
            &b,
            &[
                "@context",
                "id",
                "type",
                "name",
                "description",
                "image",
                "criteria",
                "issuer",
            ],
        );
        assert_eq!(
            b["criteria"]["narrative"],
            "1 approved customer-experience initiative."
        );
        assert_eq!(b["description"], b["criteria"]["narrative"]);
        let a = assertion(
            URLS,
            &assertion_row(),
            json!(URLS.badge(Uuid::from_u128(2))),
        )
        .unwrap();
        has_all(
            &a,
            &[
                "@context",
                "id",
                "type",
                "recipient",
                "badge",
                "verification",
                "issuedOn",
            ],
        );
        assert_eq!(a["issuedOn"], "2026-12-01T09:30:00Z");
        assert_eq!(a["verification"]["type"], "hosted");
        assert_eq!(
            a["id"],
            "https://fl.example.com/ob/v2/assertions/00000000-0000-0000-0000-000000000003"
        );
    }

    #[test]
    fn a_revoked_or_forgotten_assertion_is_not_published_in_full() {
        let mut row = assertion_row();
        row.revoked_at = Some(Utc::now());
        row.revocation_reason = Some("issued in error".into());
        assert!(assertion(URLS, &row, json!("b")).is_none());
        let mut row = assertion_row();
        row.recipient_hash = None;
        assert!(assertion(URLS, &row, json!("b")).is_none());
        let r = revoked(URLS, Uuid::from_u128(3), Some("issued in error"));
        assert_eq!(r["revoked"], true);
        assert_eq!(r["revocationReason"], "issued in error");
    }

    #[test]
    fn the_identity_hash_is_what_the_validator_computes() {
        // openbadges.verifier.utils.identity_hash: 'sha256$' + sha256(email + salt).hexdigest(),
        // on the lower-cased email; the database computes the same (tests/api/open_badges.rs).
        let hex: String = Sha256::digest(b"ana.lima@example.comabc123")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            format!("sha256${hex}"),
            "sha256$fcc7cbbbec0b5934acfa23735b8c11209b64173e7d7ab2a4a8ce86cd4148e405"
        );
    }
}
