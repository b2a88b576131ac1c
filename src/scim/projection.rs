//! `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5): which attributes an answer
//! carries. `id` and `schemas` are always returned. Names are case-insensitive; a
//! sub-attribute (`name.givenName`) selects or drops within its parent.

use serde_json::{Map, Value};

use super::ScimError;

/// What a client asked for, at most 64 names of at most 200 characters each.
#[derive(Debug, Default, Clone)]
pub struct Projection {
    only: Option<Vec<String>>,
    except: Vec<String>,
}

fn names(raw: &str) -> Result<Vec<String>, ScimError> {
    let names: Vec<String> = raw
        .split(',')
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .map(|n| {
            let lower = n.to_ascii_lowercase();
            // A schema URN before the name: keep the name.
            match lower.starts_with("urn:") {
                true => lower.rsplit(':').next().unwrap_or_default().to_string(),
                false => lower,
            }
        })
        .collect();
    if names.len() > 64 || names.iter().any(|n| n.len() > 200) {
        return Err(ScimError::bad(
            "invalidValue",
            "too many or too long attribute names",
        ));
    }
    Ok(names)
}

impl Projection {
    pub fn parse(
        attributes: Option<&str>,
        excluded: Option<&str>,
    ) -> Result<Projection, ScimError> {
        Ok(Projection {
            only: attributes.map(names).transpose()?,
            except: excluded.map(names).transpose()?.unwrap_or_default(),
        })
    }

    /// `resource` with only what was asked for.
    pub fn apply(&self, resource: Value) -> Value {
        let Value::Object(map) = resource else {
            return resource;
        };
        let mut out = Map::new();
        for (key, value) in map {
            let lower = key.to_ascii_lowercase();
            if lower == "id" || lower == "schemas" {
                out.insert(key, value);
                continue;
            }
            if self.except.contains(&lower) {
                continue;
            }
            let value = drop_subs(value, &lower, &self.except);
            match &self.only {
                None => {
                    out.insert(key, value);
                }
                Some(only) if only.contains(&lower) => {
                    out.insert(key, value);
                }
                Some(only) => {
                    let subs: Vec<&str> = only
                        .iter()
                        .filter_map(|n| n.strip_prefix(&format!("{lower}.")))
                        .collect();
                    if !subs.is_empty() {
                        out.insert(key, keep_subs(value, &subs));
                    }
                }
            }
        }
        Value::Object(out)
    }
}

fn each_object(value: Value, f: &dyn Fn(Map<String, Value>) -> Map<String, Value>) -> Value {
    match value {
        Value::Object(o) => Value::Object(f(o)),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|i| match i {
                    Value::Object(o) => Value::Object(f(o)),
                    other => other,
                })
                .collect(),
        ),
        other => other,
    }
}

fn drop_subs(value: Value, parent: &str, except: &[String]) -> Value {
    let subs: Vec<String> = except
        .iter()
        .filter_map(|n| n.strip_prefix(&format!("{parent}.")).map(str::to_string))
        .collect();
    if subs.is_empty() {
        return value;
    }
    each_object(value, &|o| {
        o.into_iter()
            .filter(|(k, _)| !subs.contains(&k.to_ascii_lowercase()))
            .collect()
    })
}

fn keep_subs(value: Value, subs: &[&str]) -> Value {
    let subs: Vec<String> = subs.iter().map(|s| s.to_string()).collect();
    each_object(value, &|o| {
        o.into_iter()
            .filter(|(k, _)| subs.contains(&k.to_ascii_lowercase()))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_and_except() {
        let doc = json!({"id": "1", "schemas": [], "userName": "u", "name": {"givenName": "g", "familyName": "f"}, "active": true});
        let p = Projection::parse(Some("userName,name.givenName"), None).unwrap();
        assert_eq!(
            p.apply(doc.clone()),
            json!({"id": "1", "schemas": [], "userName": "u", "name": {"givenName": "g"}})
        );
        let p = Projection::parse(None, Some("ACTIVE,name.familyName")).unwrap();
        assert_eq!(
            p.apply(doc),
            json!({"id": "1", "schemas": [], "userName": "u", "name": {"givenName": "g"}})
        );
    }
}
