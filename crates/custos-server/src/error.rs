//! RFC 9457 problem details: every error the API returns, in one enum, mapped to status and type
//! in one `match`. `type` is `urn:custos:problem:<code>`; `reasons` lists every reason a request
//! was refused. 5xx bodies are opaque: the cause goes to the log once, inside the request span.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use custos_core::Reason;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body is not JSON of the expected shape (malformed, unknown fields, wrong types).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// 422: the request is well-formed but a value is refused; `reasons` says which and why.
    #[error("validation failed")]
    Validation(Vec<Reason>),
    /// 401: no session, or one that has ended.
    #[error("unauthenticated")]
    Unauthenticated,
    /// 401: wrong email or password (never says which).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// 403: the password was right but the address is not verified yet.
    #[error("email not verified")]
    EmailNotVerified,
    /// 403: the account is frozen, recovering or closed.
    #[error("account inactive")]
    AccountInactive,
    /// 403: a cookie-authenticated state change without proof it came from our own pages.
    #[error("cross-site request refused")]
    CsrfRejected,
    /// 403: the action needs a recent step-up; `methods` says how to give one.
    #[error("step-up required")]
    StepUpRequired(custos_core::step_up::StepUpNeeded),
    /// 400: a one-time code or challenge was refused; the reason says why (wrong, replayed, expired…).
    #[error("code refused")]
    CodeRefused(Reason),
    /// 403: the egress gate (or another policy) refused; `reasons` says every reason that applies.
    #[error("refused")]
    Refused(Vec<Reason>),
    /// 409: the request conflicts with the account's state (e.g. a factor already enrolled).
    #[error("conflict")]
    Conflict(Reason),
    /// 400: an emailed or shown link that is malformed, unknown, expired, used or revoked.
    #[error("link invalid")]
    LinkInvalid,
    /// 401: a signed API-key request that does not authenticate (headers missing or malformed,
    /// timestamp outside the window, signature invalid or key unknown, nonce reused); `reasons`
    /// says which.
    #[error("api key request not authenticated")]
    ApiKeyUnauthenticated(Vec<Reason>),
    /// 403: a correctly signed request the key may not make (revoked, expired, scope missing,
    /// address not allowed); `reasons` lists every cause.
    #[error("api key not allowed")]
    ApiKeyForbidden(Vec<Reason>),
    /// 404
    #[error("not found")]
    NotFound,
    /// 413
    #[error("payload too large")]
    PayloadTooLarge,
    /// 415
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 429, with `Retry-After`.
    #[error("too many attempts")]
    Throttled { retry_after: Duration },
    /// 503, with `Retry-After`: the password-hashing queue is full.
    #[error("overloaded")]
    Overloaded,
    /// 500: opaque to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<custos_store::StoreError> for ApiError {
    fn from(e: custos_store::StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:custos:problem:<code>`
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[schema(value_type = Vec<ReasonDoc>)]
    pub reasons: Vec<Reason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// With `step-up-required`: the ways to step up now (`totp`, `recovery_code`, `password_and_email_code`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<&'static str>>,
}

/// One reason a request was refused or held.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReasonDoc {
    /// Stable kebab-case code, e.g. `password-too-short`.
    pub code: String,
    pub detail: String,
    /// When the reason stops applying (microseconds since the epoch), if it does.
    pub until: Option<i64>,
}

impl ApiError {
    pub fn parts(&self) -> (StatusCode, &'static str, &'static str, String) {
        use ApiError::*;
        match self {
            InvalidRequest(d) => (StatusCode::BAD_REQUEST, "invalid-request", "Invalid request", d.clone()),
            Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation-failed",
                "Validation failed",
                "Some values were refused; see reasons.".into(),
            ),
            Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Sign-in required",
                "Sign in again: there is no session, or it has ended.".into(),
            ),
            InvalidCredentials => (
                StatusCode::UNAUTHORIZED,
                "invalid-credentials",
                "Invalid credentials",
                "The email address or password is not correct.".into(),
            ),
            EmailNotVerified => (
                StatusCode::FORBIDDEN,
                "email-not-verified",
                "Email not verified",
                "Open the link we emailed you to verify your address, then sign in.".into(),
            ),
            AccountInactive => (
                StatusCode::FORBIDDEN,
                "account-inactive",
                "Account not active",
                "This account is frozen or closed. Contact support through the official channels.".into(),
            ),
            CsrfRejected => (
                StatusCode::FORBIDDEN,
                "csrf-rejected",
                "Cross-site request refused",
                "The request did not come from a custos page. Reload the page and try again.".into(),
            ),
            StepUpRequired(n) => (
                StatusCode::FORBIDDEN,
                "step-up-required",
                "Confirm it's you",
                if n.enrol_second_factor {
                    "This needs a second factor. Enrol an authenticator app first, then confirm with it."
                        .into()
                } else {
                    "Confirm it's you before making this change; see methods.".into()
                },
            ),
            CodeRefused(r) => {
                (StatusCode::BAD_REQUEST, "code-refused", "Code not accepted", r.detail.clone())
            }
            Conflict(r) => (StatusCode::CONFLICT, "conflict", "Conflict", r.detail.clone()),
            Refused(_) => (
                StatusCode::FORBIDDEN,
                "refused",
                "Not allowed now",
                "This was refused and nothing changed; see reasons.".into(),
            ),
            LinkInvalid => (
                StatusCode::BAD_REQUEST,
                "link-invalid",
                "Link not valid",
                "This link is not valid any more: it may have expired, been used, or been replaced.".into(),
            ),
            ApiKeyUnauthenticated(_) => (
                StatusCode::UNAUTHORIZED,
                "api-key-unauthenticated",
                "Signed request not accepted",
                "The request's API-key signature was not accepted; see reasons.".into(),
            ),
            ApiKeyForbidden(_) => (
                StatusCode::FORBIDDEN,
                "api-key-forbidden",
                "API key not allowed",
                "This API key may not make this request; see reasons.".into(),
            ),
            NotFound => (StatusCode::NOT_FOUND, "not-found", "Not found", "There is nothing here.".into()),
            PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
                "The request body is too large.".into(),
            ),
            UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "Send the body as application/json.".into(),
            ),
            Throttled { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "throttled",
                "Too many attempts",
                "Too many attempts; wait before trying again.".into(),
            ),
            Overloaded => (
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "Busy",
                "The service is busy; try again in a moment.".into(),
            ),
            Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                "Something went wrong on our side; nothing was changed.".into(),
            ),
        }
    }

    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Throttled { retry_after } => Some(retry_after.as_secs().max(1)),
            Self::Overloaded => Some(1),
            _ => None,
        }
    }

    pub fn problem(&self) -> Problem {
        let (status, code, title, detail) = self.parts();
        let reasons = match self {
            Self::Validation(r)
            | Self::Refused(r)
            | Self::ApiKeyUnauthenticated(r)
            | Self::ApiKeyForbidden(r) => r.clone(),
            Self::CodeRefused(r) | Self::Conflict(r) => vec![r.clone()],
            Self::StepUpRequired(n) => vec![if n.enrol_second_factor {
                Reason::new("second-factor-required", "Moving money needs a second factor on the account.")
            } else {
                Reason::new(
                    "step-up-required",
                    "Confirm with one of the listed methods; it lasts 10 minutes.",
                )
            }],
            Self::Throttled { retry_after } => vec![Reason::new(
                "too-many-attempts",
                format!("Try again in {} seconds.", retry_after.as_secs().max(1)),
            )],
            _ => Vec::new(),
        };
        Problem {
            kind: format!("urn:custos:problem:{code}"),
            title,
            status: status.as_u16(),
            detail,
            reasons,
            retry_after: self.retry_after(),
            methods: match self {
                Self::StepUpRequired(n) => Some(n.methods.clone()),
                _ => None,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(cause) = &self {
            tracing::error!(%cause, "request failed");
        }
        let problem = self.problem();
        let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(secs) = problem.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
