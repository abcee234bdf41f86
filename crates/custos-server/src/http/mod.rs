//! The HTTP surface: API, pages, OpenAPI, health, and the layers every request passes through.

pub mod allowlist_api;
pub mod api;
pub mod api_keys_api;
pub mod console_api;
pub mod freeze_api;
pub mod incidents_api;
pub mod json;
pub mod money_api;
pub mod pages;
pub mod passkeys_api;
pub mod qr;
pub mod security_api;
pub mod support_api;
pub mod views;
pub mod wallet_api;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_swagger_ui::SwaggerUi;

use crate::error::ApiError;
use crate::extract::CookieNames;
use crate::state::AppState;

/// Request bodies above this are refused with 413 before they are read.
pub const BODY_LIMIT: usize = 64 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "custos", description = "Account-takeover defence and incident response for custodial crypto platforms. \
        Errors are RFC 9457 problem+json with `type` = `urn:custos:problem:<code>` and a `reasons` list."),
    modifiers(&SessionAuth),
    tags((name = "auth"), (name = "account"), (name = "sessions"), (name = "security"), (name = "money"),
        (name = "integration"), (name = "api-keys"), (name = "allowlist"), (name = "support"), (name = "verify"))
)]
struct ApiDoc;

struct SessionAuth;

impl utoipa::Modify for SessionAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "staff_session",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "service_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // A signed request carries X-Custos-Key plus timestamp, nonce and signature headers
        // (docs/api-keys.md); OpenAPI can only name the first.
        components.add_security_scheme(
            "signed_api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Custos-Key",
                "The key id; the request also carries X-Custos-Timestamp, X-Custos-Nonce and \
                 X-Custos-Signature as specified in docs/api-keys.md.",
            ))),
        );
    }
}

pub fn router(state: AppState) -> Router {
    let (api, openapi) = utoipa_axum::router::OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(api::router())
        .merge(security_api::router())
        .merge(passkeys_api::router())
        .merge(money_api::router())
        .merge(api_keys_api::router())
        .merge(freeze_api::router())
        .merge(wallet_api::router())
        .merge(allowlist_api::router())
        .merge(support_api::router())
        .merge(incidents_api::router())
        .merge(console_api::router())
        .split_for_parts();

    let x_request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .merge(api)
        .merge(pages::router(&state))
        .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", openapi))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .fallback(|| async { ApiError::NotFound })
        .layer(middleware::from_fn_with_state(state.clone(), csrf_guard))
        .layer(middleware::from_fn(security_headers))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(CatchPanicLayer::custom(|_| ApiError::Internal("handler panicked".into()).into_response()))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %redact_path(req.uri().path()), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(x_request_id, FastRequestId))
        .with_state(state)
}

/// A random v4 UUID per request from the thread's userspace generator: `MakeRequestUuid` asks
/// the kernel for randomness on every request (uuid without `fast-rng`), which showed in `/me`'s
/// benchmark. A request id needs to be unique, not secret.
#[derive(Clone, Copy)]
struct FastRequestId;

impl MakeRequestId for FastRequestId {
    fn make_request_id<B>(&mut self, _req: &axum::http::Request<B>) -> Option<RequestId> {
        let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        HeaderValue::from_str(&id.hyphenated().to_string()).ok().map(RequestId::new)
    }
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.audit_chains().await {
        Ok(_) => "ready".into_response(),
        Err(e) => ApiError::Internal(format!("store not ready: {e}")).into_response(),
    }
}

/// Paths are logged without their bearer segments: any segment shaped like one of our tokens (43
/// base64url characters) becomes `<redacted>`. Query strings are never logged.
pub fn redact_path(path: &str) -> String {
    path.split('/')
        .map(|seg| if custos_core::crypto::BearerToken::parse(seg).is_some() { "<redacted>" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// Headers on every response. `no-referrer` everywhere: pages reached from emailed links carry
/// bearer tokens in their URL, and nothing custos serves needs a Referer elsewhere.
async fn security_headers(req: Request, next: Next) -> Response {
    let is_docs = req.uri().path().starts_with("/api/docs");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let csp = if is_docs {
        // The vendored Swagger UI sets styles inline; it loads nothing from elsewhere.
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    } else {
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    };
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    h.insert("permissions-policy", HeaderValue::from_static("camera=(), microphone=(), geolocation=()"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// CSRF for cookie-authenticated state changes (the login form included): a state-changing
/// request that carries any custos cookie must come from our own origin, by Fetch Metadata
/// (`Sec-Fetch-Site: same-origin | none`) or, lacking that, by `Origin`. Page forms also carry a
/// double-submit token, checked by the page handlers. Requests without cookies (the bearer-token
/// API) cannot be forged by a browser and pass.
async fn csrf_guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let names = CookieNames::for_state(&state);
    let has_cookie = axum_extra::extract::CookieJar::from_headers(req.headers()).iter().any(|c| {
        [names.session, names.device, names.csrf, crate::extract_staff::staff_cookie_name(&state)]
            .contains(&c.name())
    });
    if has_cookie && !same_origin(req.headers(), &state.config.public_origin()) {
        return ApiError::CsrfRejected.into_response();
    }
    next.run(req).await
}

fn same_origin(headers: &axum::http::HeaderMap, public_origin: &str) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(origin) => origin == public_origin,
        // Neither header: not a modern browser's cross-site request. The form token still applies.
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_segments_are_redacted_from_logged_paths() {
        let t = custos_core::crypto::BearerToken::generate();
        assert_eq!(redact_path(&format!("/verify-email/{}", t.expose())), "/verify-email/<redacted>");
        assert_eq!(redact_path("/api/v1/sessions/0190"), "/api/v1/sessions/0190");
    }

    #[test]
    fn cross_site_requests_are_told_apart() {
        let mut h = axum::http::HeaderMap::new();
        assert!(same_origin(&h, "https://custos.example"));
        h.insert(header::ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(!same_origin(&h, "https://custos.example"));
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&h, "https://custos.example"));
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(same_origin(&h, "https://custos.example"));
    }
}
