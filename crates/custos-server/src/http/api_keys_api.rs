//! API keys over the JSON API: managed with a session (create, list, revoke), used by signing
//! requests (`docs/api-keys.md`). `GET /api/v1/api-key/whoami` is the smallest signed route: it
//! shows a client that its signing works and what its key may do.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use custos_core::Timestamp;
use custos_core::api_key::Scope;
use custos_store::ApiKeyRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json::Json;
use crate::error::{ApiResult, Problem};
use crate::extract::{Client, UserSession};
use crate::extract_api_key::ApiKeyCaller;
use crate::state::AppState;
use crate::usecases::api_keys;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
        .routes(routes!(revoke_all_keys))
        .routes(routes!(whoami))
}

/// A key as listed: never its secret.
#[derive(Serialize, ToSchema)]
pub struct ApiKeyView {
    /// `ck_` and 24 characters; goes in `X-Custos-Key`.
    id: String,
    label: String,
    /// `ed25519` or `hmac-sha256`.
    kind: &'static str,
    /// The Ed25519 public key in standard base64 (ed25519 keys only).
    public_key: Option<String>,
    scopes: Vec<&'static str>,
    /// Canonical CIDR networks; empty: usable from any address.
    ip_allowlist: Vec<String>,
    /// `active`, `revoked` or `expired`.
    status: &'static str,
    /// RFC 3339, like every time below.
    created_at: String,
    valid_until: String,
    revoked_at: Option<String>,
    revoke_reason: Option<String>,
    last_used_at: Option<String>,
    last_used_ip: Option<String>,
}

impl ApiKeyView {
    pub(crate) fn new(k: &ApiKeyRecord, now: Timestamp) -> Self {
        let status = if k.revoked_at.is_some() {
            "revoked"
        } else if now >= k.valid_until {
            "expired"
        } else {
            "active"
        };
        let public_key = k
            .public_key
            .as_deref()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .and_then(|b| custos_core::api_key::Ed25519PublicKey::from_bytes(b).ok())
            .map(|p| p.to_base64());
        Self {
            id: k.id.to_string(),
            label: k.label.clone(),
            kind: k.kind.as_str(),
            public_key,
            scopes: k.scopes.as_strs(),
            ip_allowlist: k.ip_allowlist.as_strings(),
            status,
            created_at: k.created_at.rfc3339(),
            valid_until: k.valid_until.rfc3339(),
            revoked_at: k.revoked_at.map(Timestamp::rfc3339),
            revoke_reason: k.revoke_reason.clone(),
            last_used_at: k.last_used_at.map(Timestamp::rfc3339),
            last_used_ip: k.last_used_ip.map(|i| i.to_string()),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyList {
    /// Newest first, revoked and expired keys included.
    keys: Vec<ApiKeyView>,
}

/// The account's API keys. Secrets are never listed.
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api-keys", security(("session" = [])),
    responses((status = 200, body = ApiKeyList), (status = 401, body = Problem)))]
async fn list_keys(State(state): State<AppState>, who: UserSession) -> ApiResult<Json<ApiKeyList>> {
    let now = state.clock.now();
    let keys = api_keys::list(&state, &who).await?.iter().map(|k| ApiKeyView::new(k, now)).collect();
    Ok(Json(ApiKeyList { keys }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyBody {
    /// 1 to 64 characters.
    label: String,
    /// `ed25519` (recommended) or `hmac-sha256`.
    kind: String,
    /// For `ed25519` only, and then required: the 32-byte public key in standard base64.
    public_key: Option<String>,
    /// `read`, `trade`, `withdraw`, `transfer`; withdraw and transfer need an IP allowlist and a
    /// recent step-up with a second factor.
    scopes: Vec<String>,
    /// At most 30 addresses or CIDR networks (IPv4 /16 or narrower, IPv6 /48 or narrower).
    #[serde(default)]
    ip_allowlist: Vec<String>,
    /// RFC 3339; absent: the longest lifetime allowed (30 days without an IP allowlist, else 365).
    valid_until: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    key: ApiKeyView,
    /// `hmac-sha256` only: the secret, shown this once and never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

/// Create an API key. A key with the withdraw or transfer scope needs an IP allowlist and a recent
/// step-up with a second factor, and is announced by email like every key.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "api-keys", security(("session" = [])), request_body = CreateKeyBody,
    responses((status = 201, body = CreatedKey), (status = "4XX", body = Problem)))]
async fn create_key(
    State(state): State<AppState>,
    who: UserSession,
    client: Client,
    Json(b): Json<CreateKeyBody>,
) -> ApiResult<impl IntoResponse> {
    let req = api_keys::NewKey {
        label: b.label,
        kind: b.kind,
        public_key: b.public_key,
        scopes: b.scopes,
        ip_allowlist: b.ip_allowlist,
        valid_until: b.valid_until,
    };
    let created = api_keys::create(&state, &who, req, Some(client.ip)).await?;
    let body = CreatedKey {
        key: ApiKeyView::new(&created.key, state.clock.now()),
        secret: created.secret.as_ref().map(|s| s.expose().to_owned()),
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// Revoke one of the account's keys at once. Another account's key is "not found".
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "api-keys", security(("session" = [])),
    params(("id" = String, Path, description = "The key id, `ck_…`")),
    responses((status = 204), (status = "4XX", body = Problem)))]
async fn revoke_key(
    State(state): State<AppState>,
    who: UserSession,
    client: Client,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    api_keys::revoke(&state, &who, &id, Some(client.ip)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct Revoked {
    /// How many keys were live and are now revoked.
    revoked: u32,
}

/// Revoke every key of the account at once.
#[utoipa::path(post, path = "/api/v1/api-keys/revoke-all", tag = "api-keys", security(("session" = [])),
    responses((status = 200, body = Revoked), (status = "4XX", body = Problem)))]
async fn revoke_all_keys(
    State(state): State<AppState>,
    who: UserSession,
    client: Client,
) -> ApiResult<Json<Revoked>> {
    Ok(Json(Revoked { revoked: api_keys::revoke_all(&state, &who, Some(client.ip)).await? }))
}

#[derive(Serialize, ToSchema)]
pub struct WhoAmI {
    key_id: String,
    label: String,
    kind: &'static str,
    scopes: Vec<&'static str>,
    ip_allowlist: Vec<String>,
    valid_until: String,
    /// The public account number.
    account_uid: String,
}

/// A signed request (scope `read`) that tells the key who it is: use it to check a client's signing.
#[utoipa::path(get, path = "/api/v1/api-key/whoami", tag = "api-keys", security(("signed_api_key" = [])),
    responses((status = 200, body = WhoAmI), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn whoami(State(state): State<AppState>, caller: ApiKeyCaller) -> ApiResult<Json<WhoAmI>> {
    caller.require(Scope::Read, &state)?;
    let k = &caller.key;
    Ok(Json(WhoAmI {
        key_id: k.id.to_string(),
        label: k.label.clone(),
        kind: k.kind.as_str(),
        scopes: k.scopes.as_strs(),
        ip_allowlist: k.ip_allowlist.as_strings(),
        valid_until: k.valid_until.rfc3339(),
        account_uid: caller.account_uid.to_string(),
    }))
}
