//! PATCH (RFC 7644 §3.5.2) on a resource's JSON: `add`, `remove` and `replace` (in any case:
//! Entra sends `Replace`), with a `path` (`active`, `name.givenName`,
//! `emails[type eq "work"].value`, `members[value eq "..."]`) or, for add and replace, without
//! one (the value's members are applied at the root). The result is then checked like a PUT.

use serde_json::{Map, Value};

use super::ScimError;
use super::filter::{self, Filter};

/// The most operations one PATCH may carry.
pub const MAX_OPERATIONS: usize = 100;

/// Names as the schemas spell them, so a document keeps one spelling whatever the client's.
const CANONICAL: &[&str] = &[
    "userName",
    "name",
    "displayName",
    "emails",
    "active",
    "externalId",
    "formatted",
    "familyName",
    "givenName",
    "value",
    "type",
    "primary",
    "display",
    "$ref",
    "members",
];

pub fn canonical(name: &str) -> String {
    CANONICAL
        .iter()
        .find(|c| c.eq_ignore_ascii_case(name))
        .map(|c| c.to_string())
        .unwrap_or_else(|| name.to_string())
}

/// The key of `object` named `name` in any case.
fn key_of(object: &Map<String, Value>, name: &str) -> Option<String> {
    object
        .keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
}

#[derive(Debug)]
struct Target {
    attr: String,
    filter: Option<Filter>,
    sub: Option<String>,
}

fn invalid_path(detail: impl Into<String>) -> ScimError {
    ScimError::bad("invalidPath", detail)
}

/// `attr`, `attr.sub`, `attr[filter]`, `attr[filter].sub`, each with an optional schema URN.
fn target(raw: &str, allowed: &[&str]) -> Result<Target, ScimError> {
    let raw = raw.trim();
    let raw = match raw.find('[') {
        // A URN before the attribute: `urn:...:User:name.givenName` (the URN has dots of its
        // own, `2.0`, so it is cut at its last colon before any filter).
        _ if raw.to_ascii_lowercase().starts_with("urn:") => {
            let head_end = raw.find('[').unwrap_or(raw.len());
            match raw[..head_end].rfind(':') {
                Some(i) => &raw[i + 1..],
                None => raw,
            }
        }
        _ => raw,
    };
    if raw.is_empty() {
        return Err(invalid_path("the path is empty"));
    }
    match raw.find('[') {
        Some(open) => {
            let close = raw
                .rfind(']')
                .filter(|c| *c > open)
                .ok_or_else(|| invalid_path("a value filter is not closed"))?;
            let parsed =
                filter::parse(&raw[..=close], allowed).map_err(|e| invalid_path(e.detail))?;
            let Filter::ValuePath(attr, inner) = parsed else {
                return Err(invalid_path("expected attr[filter]"));
            };
            let rest = &raw[close + 1..];
            let sub = match rest.strip_prefix('.') {
                Some(s) if !s.is_empty() => Some(s.to_string()),
                None if rest.is_empty() => None,
                _ => return Err(invalid_path("unexpected text after the value filter")),
            };
            Ok(Target {
                attr,
                filter: Some(*inner),
                sub,
            })
        }
        None => {
            let mut parts = raw.splitn(2, '.');
            let attr = parts.next().unwrap_or_default().to_string();
            let sub = parts.next().map(str::to_string);
            let full = match &sub {
                Some(s) => format!("{attr}.{s}").to_ascii_lowercase(),
                None => attr.to_ascii_lowercase(),
            };
            if !allowed.contains(&full.as_str())
                && !allowed.contains(&attr.to_ascii_lowercase().as_str())
            {
                return Err(invalid_path(format!("'{raw}' is not an attribute")));
            }
            Ok(Target {
                attr,
                filter: None,
                sub,
            })
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Add,
    Remove,
    Replace,
}

/// Apply `operations` to `doc`. `allowed`: the paths that may be named (lower case);
/// `required`: attributes that may not be removed.
pub fn apply(
    doc: &mut Map<String, Value>,
    operations: &[Value],
    allowed: &[&str],
    required: &[&str],
) -> Result<(), ScimError> {
    if operations.is_empty() {
        return Err(ScimError::bad(
            "invalidValue",
            "Operations must not be empty",
        ));
    }
    if operations.len() > MAX_OPERATIONS {
        return Err(ScimError::bad(
            "tooMany",
            format!("a PATCH carries at most {MAX_OPERATIONS} operations"),
        ));
    }
    for op in operations {
        let op = op
            .as_object()
            .ok_or_else(|| ScimError::bad("invalidSyntax", "each operation is an object"))?;
        let kind = match filter::member(&Value::Object(op.clone()), "op").and_then(Value::as_str) {
            Some(k) if k.eq_ignore_ascii_case("add") => Kind::Add,
            Some(k) if k.eq_ignore_ascii_case("remove") => Kind::Remove,
            Some(k) if k.eq_ignore_ascii_case("replace") => Kind::Replace,
            _ => {
                return Err(ScimError::bad(
                    "invalidSyntax",
                    "op must be add, remove or replace",
                ));
            }
        };
        let path = key_of(op, "path").and_then(|k| op.get(&k)).cloned();
        let value = key_of(op, "value").and_then(|k| op.get(&k)).cloned();
        match (kind, path) {
            (Kind::Remove, None) => {
                return Err(ScimError::bad("noTarget", "remove needs a path"));
            }
            (_, Some(Value::String(p))) => {
                let t = target(&p, allowed)?;
                if kind == Kind::Remove {
                    if t.filter.is_none()
                        && t.sub.is_none()
                        && required.iter().any(|r| r.eq_ignore_ascii_case(&t.attr))
                    {
                        return Err(ScimError::bad(
                            "mutability",
                            format!("{} is required and cannot be removed", t.attr),
                        ));
                    }
                    remove(doc, &t, value.as_ref());
                } else {
                    let value = value.ok_or_else(|| {
                        ScimError::bad("invalidValue", "add and replace need a value")
                    })?;
                    set(doc, &t, value, kind)?;
                }
            }
            (_, Some(_)) => return Err(invalid_path("path must be a string")),
            (_, None) => {
                let Some(Value::Object(values)) = value else {
                    return Err(ScimError::bad(
                        "invalidValue",
                        "without a path, the value is an object of attributes",
                    ));
                };
                for (name, v) in values {
                    // Attributes of an extension schema at the root, which is not published,
                    // and unknown attributes are ignored like in a PUT.
                    let Ok(t) = target(&name, allowed) else {
                        continue;
                    };
                    set(doc, &t, v, kind)?;
                }
            }
        }
    }
    Ok(())
}

/// Merge the members of `from` into `into` (a complex value's sub-attributes).
fn merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (k, v) in from {
        if let Some(old) = key_of(into, &k) {
            into.remove(&old);
        }
        into.insert(canonical(&k), v);
    }
}

fn set(
    doc: &mut Map<String, Value>,
    t: &Target,
    value: Value,
    kind: Kind,
) -> Result<(), ScimError> {
    let key = key_of(doc, &t.attr).unwrap_or_else(|| canonical(&t.attr));
    match (&t.filter, &t.sub) {
        (None, None) => {
            let current = doc.remove(&key);
            let next = match (current, value, kind) {
                (Some(Value::Array(mut items)), Value::Array(more), Kind::Add) => {
                    for v in more {
                        if !items.contains(&v) {
                            items.push(v);
                        }
                    }
                    Value::Array(items)
                }
                (Some(Value::Array(mut items)), v @ Value::Object(_), Kind::Add) => {
                    if !items.contains(&v) {
                        items.push(v);
                    }
                    Value::Array(items)
                }
                (Some(Value::Object(mut old)), Value::Object(new), _) => {
                    merge(&mut old, new);
                    Value::Object(old)
                }
                (_, v, _) => v,
            };
            doc.insert(canonical(&t.attr), next);
        }
        (None, Some(sub)) => {
            let entry = doc.entry(key).or_insert_with(|| Value::Object(Map::new()));
            match entry {
                Value::Object(o) => merge(o, Map::from_iter([(sub.clone(), value)])),
                Value::Array(items) => {
                    for item in items.iter_mut() {
                        if let Value::Object(o) = item {
                            merge(o, Map::from_iter([(sub.clone(), value.clone())]));
                        }
                    }
                }
                other => *other = Value::Object(Map::from_iter([(canonical(sub), value)])),
            }
        }
        (Some(f), sub) => {
            let mut matched = false;
            if let Some(Value::Array(items)) = doc.get_mut(&key) {
                for item in items.iter_mut().filter(|i| f.matches(i)) {
                    matched = true;
                    if let Value::Object(o) = item {
                        match (sub, &value) {
                            (Some(s), v) => merge(o, Map::from_iter([(s.clone(), v.clone())])),
                            (None, Value::Object(v)) => merge(o, v.clone()),
                            (None, _) => {
                                return Err(ScimError::bad(
                                    "invalidValue",
                                    "a filtered value is replaced by an object",
                                ));
                            }
                        }
                    }
                }
            }
            if !matched {
                return Err(ScimError::bad(
                    "noTarget",
                    "no value matches the path's filter",
                ));
            }
        }
    }
    Ok(())
}

fn remove(doc: &mut Map<String, Value>, t: &Target, value: Option<&Value>) {
    let Some(key) = key_of(doc, &t.attr) else {
        return;
    };
    match (&t.filter, &t.sub) {
        (None, None) => match (doc.get_mut(&key), value) {
            // `{"op":"remove","path":"members","value":[{"value":"<id>"}]}` (Entra, Okta):
            // those values only.
            (Some(Value::Array(items)), Some(Value::Array(gone))) => {
                let ids: Vec<&Value> = gone
                    .iter()
                    .filter_map(|g| filter::member(g, "value"))
                    .collect();
                items.retain(|i| !filter::member(i, "value").is_some_and(|v| ids.contains(&v)));
                if items.is_empty() {
                    doc.remove(&key);
                }
            }
            _ => {
                doc.remove(&key);
            }
        },
        (None, Some(sub)) => match doc.get_mut(&key) {
            Some(Value::Object(o)) => {
                if let Some(k) = key_of(o, sub) {
                    o.remove(&k);
                }
            }
            Some(Value::Array(items)) => {
                for item in items.iter_mut() {
                    if let Value::Object(o) = item
                        && let Some(k) = key_of(o, sub)
                    {
                        o.remove(&k);
                    }
                }
            }
            _ => {}
        },
        (Some(f), None) => {
            if let Some(Value::Array(items)) = doc.get_mut(&key) {
                items.retain(|i| !f.matches(i));
                if items.is_empty() {
                    doc.remove(&key);
                }
            }
        }
        (Some(f), Some(sub)) => {
            if let Some(Value::Array(items)) = doc.get_mut(&key) {
                for item in items.iter_mut().filter(|i| f.matches(i)) {
                    if let Value::Object(o) = item
                        && let Some(k) = key_of(o, sub)
                    {
                        o.remove(&k);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ALLOWED: &[&str] = &[
        "username",
        "name",
        "name.givenname",
        "name.familyname",
        "name.formatted",
        "displayname",
        "emails",
        "emails.value",
        "emails.type",
        "emails.primary",
        "active",
        "externalid",
    ];

    fn run(doc: Value, ops: Value) -> Result<Value, ScimError> {
        let Value::Object(mut d) = doc else { panic!() };
        apply(
            &mut d,
            ops.as_array().unwrap(),
            ALLOWED,
            &["username", "emails"],
        )?;
        Ok(Value::Object(d))
    }

    #[test]
    fn entra_style_operations() {
        let doc = json!({"userName": "a", "emails": [{"value": "a@x.io", "type": "work"}], "active": true});
        let out = run(
            doc.clone(),
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .unwrap();
        assert_eq!(out["active"], "False");
        let out = run(
            doc.clone(),
            json!([{"op": "Replace", "value": {"displayName": "A B", "name.givenName": "A"}}]),
        )
        .unwrap();
        assert_eq!(out["displayName"], "A B");
        assert_eq!(out["name"]["givenName"], "A");
        let out = run(
            doc.clone(),
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "b@x.io"}]),
        )
        .unwrap();
        assert_eq!(out["emails"][0]["value"], "b@x.io");
        let e = run(
            doc.clone(),
            json!([{"op": "replace", "path": "emails[type eq \"home\"].value", "value": "b@x.io"}]),
        )
        .unwrap_err();
        assert_eq!(e.scim_type, Some("noTarget"));
        let e = run(doc.clone(), json!([{"op": "remove", "path": "userName"}])).unwrap_err();
        assert_eq!(e.scim_type, Some("mutability"));
        let e = run(doc.clone(), json!([{"op": "remove"}])).unwrap_err();
        assert_eq!(e.scim_type, Some("noTarget"));
        let e = run(
            doc.clone(),
            json!([{"op": "add", "path": "password", "value": "x"}]),
        )
        .unwrap_err();
        assert_eq!(e.scim_type, Some("invalidPath"));
        let out = run(
            doc.clone(),
            json!([{"op": "add", "path": "name", "value": {"givenName": "G", "familyName": "F"}}]),
        )
        .unwrap();
        assert_eq!(out["name"], json!({"givenName": "G", "familyName": "F"}));
        let out = run(out, json!([{"op": "remove", "path": "name"}])).unwrap();
        assert!(out.get("name").is_none());
        let out = run(doc, json!([{"op": "add", "path": "urn:ietf:params:scim:schemas:core:2.0:User:externalId", "value": "e1"}])).unwrap();
        assert_eq!(out["externalId"], "e1");
    }

    #[test]
    fn removing_members_by_value() {
        let doc = json!({"userName": "a", "emails": [{"value": "1"}, {"value": "2"}]});
        let out = run(
            doc.clone(),
            json!([{"op": "remove", "path": "emails[value eq \"1\"]"}]),
        )
        .unwrap();
        assert_eq!(out["emails"], json!([{"value": "2"}]));
    }
}
