//! The API-keys page of the security center: the keys (what each may do, from where, until when,
//! when and from where it was last used), a form to create one, and revoke buttons. Plain forms
//! with the double-submit token; no JavaScript. An HMAC secret is shown on the result page once.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use custos_core::api_key::MAX_ALLOWLIST_ENTRIES;
use serde::Deserialize;

use super::CsrfOnly;
use super::confirm::confirm_first;
use super::{Form, check_csrf, csrf_token, error_page, readable_time};
use crate::error::ApiError;
use crate::extract::{Client, PageUser, UserSession};
use crate::state::AppState;
use crate::usecases::api_keys;

const HERE: &str = "/security/api-keys";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(HERE, get(keys_page).post(create))
        .route("/security/api-keys/{id}/revoke", post(revoke))
        .route("/security/api-keys/revoke-all", post(revoke_all))
}

pub(super) struct KeyItem {
    pub id: String,
    pub label: String,
    pub kind: &'static str,
    pub scopes: String,
    pub moves_money: bool,
    /// Empty: any address.
    pub ips: Vec<String>,
    /// `active`, `revoked` or `expired`.
    pub status: &'static str,
    pub created_at: String,
    pub valid_until: String,
    pub revoked_at: Option<String>,
    pub last_used: Option<(String, Option<String>)>,
}

/// What the person typed, kept when the form comes back with errors.
#[derive(Default)]
pub(super) struct Entered {
    pub label: String,
    pub kind: String,
    pub public_key: String,
    pub scopes: Vec<&'static str>,
    pub ips: String,
    pub valid_until: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "security_api_keys.html")]
struct KeysPage {
    csrf: String,
    flash: Option<&'static str>,
    keys: Vec<KeyItem>,
    live: usize,
    entered: Entered,
    errors: Vec<String>,
    max_ips: usize,
}

impl KeysPage {
    fn when(&self, rfc3339: &str) -> String {
        readable_time(rfc3339)
    }

    fn checked(&self, scope: &str) -> bool {
        self.entered.scopes.contains(&scope)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "security_api_key_created.html")]
struct CreatedPage {
    csrf: String,
    id: String,
    label: String,
    kind: &'static str,
    scopes: String,
    ips: Vec<String>,
    valid_until: String,
    /// HMAC keys only, shown this once.
    secret: Option<String>,
}

impl CreatedPage {
    fn when(&self, rfc3339: &str) -> String {
        readable_time(rfc3339)
    }
}

async fn render(
    state: &AppState,
    who: &UserSession,
    jar: CookieJar,
    status: StatusCode,
    flash: Option<&'static str>,
    entered: Entered,
    errors: Vec<String>,
) -> Response {
    let now = state.clock.now();
    let records = match api_keys::list(state, who).await {
        Ok(r) => r,
        Err(e) => return error_page(&e),
    };
    let keys: Vec<KeyItem> = records
        .iter()
        .map(|k| KeyItem {
            id: k.id.to_string(),
            label: k.label.clone(),
            kind: k.kind.as_str(),
            scopes: k.scopes.as_strs().join(", "),
            moves_money: k.scopes.moves_money(),
            ips: k.ip_allowlist.as_strings(),
            status: if k.revoked_at.is_some() {
                "revoked"
            } else if now >= k.valid_until {
                "expired"
            } else {
                "active"
            },
            created_at: k.created_at.rfc3339(),
            valid_until: k.valid_until.rfc3339(),
            revoked_at: k.revoked_at.map(|t| t.rfc3339()),
            last_used: k.last_used_at.map(|t| (t.rfc3339(), k.last_used_ip.map(|i| i.to_string()))),
        })
        .collect();
    let live = keys.iter().filter(|k| k.status == "active").count();
    let (jar, csrf) = csrf_token(state, jar);
    let page = KeysPage { csrf, flash, keys, live, entered, errors, max_ips: MAX_ALLOWLIST_ENTRIES };
    (status, jar, page).into_response()
}

#[derive(Deserialize)]
struct Done {
    done: Option<String>,
}

async fn keys_page(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    jar: CookieJar,
    Query(q): Query<Done>,
) -> Response {
    let flash = match q.done.as_deref() {
        Some("revoked") => Some("The key was revoked. Programs using it are refused from now on."),
        Some("all-revoked") => {
            Some("Every API key was revoked. Programs using them are refused from now on.")
        }
        _ => None,
    };
    render(&state, &who, jar, StatusCode::OK, flash, Entered::default(), Vec::new()).await
}

#[derive(Deserialize)]
struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    public_key: String,
    scope_read: Option<String>,
    scope_trade: Option<String>,
    scope_withdraw: Option<String>,
    scope_transfer: Option<String>,
    /// Addresses or networks separated by commas, spaces or lines.
    #[serde(default)]
    ip_allowlist: String,
    /// A date (`YYYY-MM-DD`, from a date input): valid until the start of that day, UTC.
    #[serde(default)]
    valid_until: String,
}

impl CreateForm {
    fn entered(&self) -> Entered {
        let scopes = [
            ("read", &self.scope_read),
            ("trade", &self.scope_trade),
            ("withdraw", &self.scope_withdraw),
            ("transfer", &self.scope_transfer),
        ]
        .into_iter()
        .filter(|(_, v)| v.is_some())
        .map(|(s, _)| s)
        .collect();
        Entered {
            label: self.label.clone(),
            kind: self.kind.clone(),
            public_key: self.public_key.clone(),
            scopes,
            ips: self.ip_allowlist.clone(),
            valid_until: self.valid_until.clone(),
        }
    }

    fn request(&self) -> api_keys::NewKey {
        let date = self.valid_until.trim();
        api_keys::NewKey {
            label: self.label.clone(),
            kind: self.kind.clone(),
            public_key: Some(self.public_key.trim()).filter(|k| !k.is_empty()).map(str::to_owned),
            scopes: self.entered().scopes.into_iter().map(str::to_owned).collect(),
            ip_allowlist: self
                .ip_allowlist
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            valid_until: (!date.is_empty()).then(|| format!("{date}T00:00:00Z")),
        }
    }
}

async fn create(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    client: Client,
    jar: CookieJar,
    Form(f): Form<CreateForm>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    match api_keys::create(&state, &who, f.request(), Some(client.ip)).await {
        Ok(c) => {
            let (jar, csrf) = csrf_token(&state, jar);
            let page = CreatedPage {
                csrf,
                id: c.key.id.to_string(),
                label: c.key.label.clone(),
                kind: c.key.kind.as_str(),
                scopes: c.key.scopes.as_strs().join(", "),
                ips: c.key.ip_allowlist.as_strings(),
                valid_until: c.key.valid_until.rfc3339(),
                secret: c.secret.as_ref().map(|s| s.expose().to_owned()),
            };
            (StatusCode::CREATED, jar, page).into_response()
        }
        Err(ApiError::Validation(reasons)) => {
            let errors = reasons.into_iter().map(|r| r.detail).collect();
            render(&state, &who, jar, StatusCode::UNPROCESSABLE_ENTITY, None, f.entered(), errors).await
        }
        Err(ApiError::StepUpRequired(n)) if n.enrol_second_factor => {
            let errors = vec![
                "A key with the withdraw or transfer scope needs a second factor on your account. \
                 Add an authenticator app or a passkey first, then create the key."
                    .to_owned(),
            ];
            render(&state, &who, jar, StatusCode::FORBIDDEN, None, f.entered(), errors).await
        }
        Err(ApiError::StepUpRequired(_)) => confirm_first(HERE),
        Err(e) => error_page(&e),
    }
}

async fn revoke(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    client: Client,
    jar: CookieJar,
    Path(id): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let result = async {
        check_csrf(&state, &jar, &f.csrf)?;
        api_keys::revoke(&state, &who, &id, Some(client.ip)).await
    };
    match result.await {
        Ok(()) => Redirect::to("/security/api-keys?done=revoked").into_response(),
        Err(e) => error_page(&e),
    }
}

async fn revoke_all(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    client: Client,
    jar: CookieJar,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let result = async {
        check_csrf(&state, &jar, &f.csrf)?;
        api_keys::revoke_all(&state, &who, Some(client.ip)).await
    };
    match result.await {
        Ok(_) => Redirect::to("/security/api-keys?done=all-revoked").into_response(),
        Err(e) => error_page(&e),
    }
}
