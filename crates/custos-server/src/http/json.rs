//! JSON in and out, with every rejection turned into a problem+json answer.

use axum::extract::FromRequest;
use axum::extract::rejection::JsonRejection;

use crate::error::ApiError;

/// `axum::Json`, but a malformed, oversized or wrongly typed body is a problem+json 4xx.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
            JsonRejection::BytesRejection(b) if b.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::PayloadTooLarge
            }
            JsonRejection::JsonDataError(e) => ApiError::InvalidRequest(e.body_text()),
            JsonRejection::JsonSyntaxError(_) => {
                ApiError::InvalidRequest("The body is not valid JSON.".into())
            }
            other => ApiError::InvalidRequest(other.body_text()),
        }
    }
}

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}
