//! The query parameters and SearchRequest fields lists and reads share (Users and Groups).

use rocket::form::FromForm;
use serde_json::Value;
use utoipa::IntoParams;

use super::projection::Projection;
use super::users::ListQuery;
use super::{ScimError, ScimResult};

/// `attributes` and `excludedAttributes`.
#[derive(Debug, FromForm, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Shape {
    /// Only these attributes (comma-separated), besides `id` and `schemas`.
    pub attributes: Option<String>,
    /// Leave these attributes out (comma-separated).
    #[field(name = "excludedAttributes")]
    #[param(rename = "excludedAttributes")]
    pub excluded_attributes: Option<String>,
}

impl Shape {
    pub fn parse(&self) -> ScimResult<Projection> {
        Projection::parse(
            self.attributes.as_deref(),
            self.excluded_attributes.as_deref(),
        )
    }
}

/// A list's parameters.
#[derive(Debug, FromForm, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// RFC 7644 §3.4.2.2, e.g. `userName eq "ada@example.com"`; at most 4096 characters.
    pub filter: Option<String>,
    /// 1-based index of the first result (default 1).
    #[field(name = "startIndex")]
    #[param(rename = "startIndex", value_type = Option<i64>)]
    pub start_index: Option<String>,
    /// Page size, 0-200 (default 100).
    #[param(value_type = Option<i64>)]
    pub count: Option<String>,
    /// Only these attributes (comma-separated), besides `id` and `schemas`.
    pub attributes: Option<String>,
    /// Leave these attributes out (comma-separated).
    #[field(name = "excludedAttributes")]
    #[param(rename = "excludedAttributes")]
    pub excluded_attributes: Option<String>,
}

impl ListParams {
    /// The list these parameters ask for, of a resource type filtered on `filterable`.
    pub fn query(&self, filterable: &[&str]) -> ScimResult<ListQuery> {
        let shape = Shape {
            attributes: self.attributes.clone(),
            excluded_attributes: self.excluded_attributes.clone(),
        };
        ListQuery::parse(
            filterable,
            self.filter.as_deref(),
            self.start_index.as_deref(),
            self.count.as_deref(),
            shape.parse()?,
        )
    }

    /// A SearchRequest's fields (`POST .../.search`) as the parameters they stand for.
    pub fn of_search(body: &serde_json::Map<String, Value>) -> ScimResult<ListParams> {
        Ok(ListParams {
            filter: text_of(body, "filter")?,
            start_index: text_of(body, "startIndex")?,
            count: text_of(body, "count")?,
            attributes: text_of(body, "attributes")?,
            excluded_attributes: text_of(body, "excludedAttributes")?,
        })
    }
}

/// A SearchRequest field as the query parameter it stands for.
pub fn text_of(body: &serde_json::Map<String, Value>, name: &str) -> ScimResult<Option<String>> {
    match super::filter::member(&Value::Object(body.clone()), name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Array(items)) => Ok(Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
        )),
        Some(_) => Err(ScimError::bad(
            "invalidValue",
            format!("{name} has the wrong type"),
        )),
    }
}
