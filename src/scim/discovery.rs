//! What the service provider publishes about itself (RFC 7644 §4): ServiceProviderConfig,
//! ResourceTypes and Schemas, static. The schemas are trimmed to what round-trips exactly.

use serde_json::{Value, json};

use super::{LIST_SCHEMA, ScimError, USER_SCHEMA};

const USER: &str = include_str!("schemas/user.json");
const GROUP: &str = include_str!("schemas/group.json");
const RESOURCE_TYPE: &str = include_str!("schemas/resource_type.json");
const SERVICE_PROVIDER_CONFIG: &str = include_str!("schemas/service_provider_config.json");
const SCHEMA: &str = include_str!("schemas/schema.json");

pub fn service_provider_config() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": { "supported": true },
        "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
        "filter": { "supported": true, "maxResults": super::MAX_COUNT },
        "changePassword": { "supported": false },
        "sort": { "supported": false },
        "etag": { "supported": false },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "API key",
            "description": "An API key with the scim scope, owned by an admin: Authorization: Bearer <key>",
            "primary": true
        }],
        "meta": { "resourceType": "ServiceProviderConfig", "location": "/scim/v2/ServiceProviderConfig" }
    })
}

fn user_type() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "A member of the organisation",
        "schema": USER_SCHEMA,
        "meta": { "resourceType": "ResourceType", "location": "/scim/v2/ResourceTypes/User" }
    })
}

fn group_type() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "Group",
        "name": "Group",
        "endpoint": "/Groups",
        "description": "A team of the organisation",
        "schema": super::GROUP_SCHEMA,
        "meta": { "resourceType": "ResourceType", "location": "/scim/v2/ResourceTypes/Group" }
    })
}

pub fn resource_types() -> Vec<Value> {
    vec![user_type(), group_type()]
}

pub fn resource_type(id: &str) -> Result<Value, ScimError> {
    resource_types()
        .into_iter()
        .find(|t| t["id"].as_str() == Some(id))
        .ok_or_else(|| ScimError::not_found("resource type"))
}

pub fn schemas() -> Vec<Value> {
    [USER, GROUP, RESOURCE_TYPE, SERVICE_PROVIDER_CONFIG, SCHEMA]
        .iter()
        .filter_map(|raw| serde_json::from_str::<Value>(raw).ok())
        .map(|mut s| {
            let location = format!("/scim/v2/Schemas/{}", s["id"].as_str().unwrap_or_default());
            s["meta"] = json!({ "resourceType": "Schema", "location": location });
            s
        })
        .collect()
}

pub fn schema(id: &str) -> Result<Value, ScimError> {
    schemas()
        .into_iter()
        .find(|s| s["id"].as_str() == Some(id))
        .ok_or_else(|| ScimError::not_found("schema"))
}

/// A ListResponse of everything in `resources` (discovery lists are never paged).
pub fn list(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_schema_parses_and_the_core_three_are_there() {
        let names: Vec<String> = super::schemas()
            .iter()
            .filter_map(|s| s["name"].as_str().map(str::to_string))
            .collect();
        for name in ["User", "ResourceType", "ServiceProviderConfig", "Schema"] {
            assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
        }
    }
}
