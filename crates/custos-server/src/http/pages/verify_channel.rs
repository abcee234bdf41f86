//! The public "Is this really us?" page: one box, the answer in plain words. A GET form (it
//! changes nothing), throttled per address like the API.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::error_page;
use crate::error::ApiError;
use crate::extract::Client;
use crate::state::AppState;
use crate::usecases::official_channels::{self, VerifyAnswer};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/verify", get(page))
}

#[derive(Template, WebTemplate)]
#[template(path = "verify_channel.html")]
struct VerifyPage {
    channel: String,
    error: Option<String>,
    answer: Option<VerifyAnswer>,
}

#[derive(Deserialize)]
struct Q {
    channel: Option<String>,
    kind: Option<String>,
}

async fn page(State(state): State<AppState>, client: Client, Query(q): Query<Q>) -> Response {
    let channel = q.channel.unwrap_or_default();
    if channel.trim().is_empty() {
        return VerifyPage { channel, error: None, answer: None }.into_response();
    }
    match official_channels::verify(&state, &client, &channel, q.kind.as_deref()).await {
        Ok(a) => VerifyPage { channel, error: None, answer: Some(a) }.into_response(),
        Err(ApiError::Validation(r)) => {
            let error = r.first().map(|r| r.detail.clone());
            (axum::http::StatusCode::UNPROCESSABLE_ENTITY, VerifyPage { channel, error, answer: None })
                .into_response()
        }
        Err(e) => error_page(&e),
    }
}
