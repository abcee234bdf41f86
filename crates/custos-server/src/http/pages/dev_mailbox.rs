//! The dev mailbox (dev mode only): the mail custos would have sent, newest first.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::error_page;
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/dev/mailbox", get(dev_mailbox))
}

struct MailView {
    subject: String,
    recipient: String,
    received_at: String,
    text_body: String,
    links: Vec<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "mailbox.html")]
struct MailboxPage {
    mail: Vec<MailView>,
}

async fn dev_mailbox(State(state): State<AppState>) -> Response {
    match state.store.dev_mail(50).await {
        Ok(mail) => MailboxPage {
            mail: mail
                .into_iter()
                .map(|m| MailView {
                    links: m
                        .text_body
                        .split_whitespace()
                        .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
                        .map(str::to_owned)
                        .collect(),
                    subject: m.subject,
                    recipient: m.recipient,
                    received_at: m.received_at.to_string(),
                    text_body: m.text_body,
                })
                .collect(),
        }
        .into_response(),
        Err(e) => error_page(&e.into()),
    }
}
