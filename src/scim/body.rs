//! A SCIM request body: `application/scim+json` or `application/json` (what identity providers
//! send), at most 256 KiB, a JSON object.

use rocket::data::{self, Data, FromData, ToByteUnit};
use rocket::request::Request;

use crate::error::{AppError, ErrorSlot};

/// The largest body a SCIM request may carry.
pub const MAX_BODY_KIB: u64 = 256;

/// A JSON object sent to a SCIM endpoint.
pub struct ScimBody(pub serde_json::Map<String, serde_json::Value>);

#[rocket::async_trait]
impl<'r> FromData<'r> for ScimBody {
    type Error = AppError;

    async fn from_data(req: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
        match read(req, data).await {
            Ok(body) => data::Outcome::Success(ScimBody(body)),
            Err(e) => data::Outcome::Error((ErrorSlot::put(req, e.clone_shallow()), e)),
        }
    }
}

async fn read(
    req: &Request<'_>,
    data: Data<'_>,
) -> Result<serde_json::Map<String, serde_json::Value>, AppError> {
    if let Some(ct) = req.content_type()
        && !(ct.is_json() || ct.sub().as_str().eq_ignore_ascii_case("scim+json"))
    {
        return Err(AppError::UnsupportedMediaType(format!(
            "the body must be application/scim+json or application/json, not {ct}"
        )));
    }
    let limit = MAX_BODY_KIB.kibibytes();
    let bytes = data
        .open(limit)
        .into_bytes()
        .await
        .map_err(|e| AppError::BadRequest(format!("could not read the body: {e}")))?;
    if !bytes.is_complete() {
        return Err(AppError::PayloadTooLarge(format!(
            "the body exceeds the limit of {limit}"
        )));
    }
    match serde_json::from_slice::<serde_json::Value>(&bytes.into_inner()) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(AppError::BadRequest(
            "the body must be a JSON object".into(),
        )),
        Err(e) => Err(AppError::BadRequest(format!("malformed JSON: {e}"))),
    }
}
