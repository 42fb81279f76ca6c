//! The JSON admin API, mounted under `/admin`.
//!
//! | method and path | effect |
//! | --- | --- |
//! | `GET /admin/state` | `{"users": N, "entities": N, "roles": N, "privileges": N, "requests": N}` |
//! | `GET /admin/users/{name}` | the user, or 404 |
//! | `PUT /admin/users/{name}` | add (201) or replace (200) a user; body: user JSON |
//! | `DELETE /admin/users/{name}` | 204, or 404 |
//! | `GET`/`PUT`/`DELETE /admin/roles/{name}` | same for roles; deleting one removes it from users |
//! | `GET`/`PUT`/`DELETE /admin/privileges/{name}` | same for privileges; deleting one removes it from roles |
//! | `GET`/`PUT`/`DELETE /admin/entities/{name}` | same for entities; deleting one removes memberships |
//! | `GET`/`DELETE /admin/requests` | the [`SeenRequest`] log of the endpoint (calls that passed the token check) / clear it and the wire log (204) |
//! | `GET /admin/received` | the wire log: every request to the endpoint or the token gateway as [`SeenRequest`]s, in arrival order, calls turned away for their token included |
//! | `POST /admin/faults` | queue a [`Fault`] (201; 400 for an invalid `http-status` status or `content-type` value) |
//! | `GET`/`DELETE /admin/faults` | pending faults / clear them (204) |
//! | `GET /admin/stalls` | `{"stalled": bool, "held": N}`: whether a `stall` response has reached its stall point since the last release; how many are held there now |
//! | `DELETE /admin/stalls` | release every stalled response and clear that flag (204) |
//! | `GET /admin/tokens` | `{"enabled": bool, "issued": N, "refused": N, "accepted": N, "expired": N, "invalid": N}`: whether token mode is on, and the [`TokenStats`] |
//! | `POST /admin/tokens/expire` | every token issued so far counts as expired from now on (204) |
//!
//! PUT bodies use the camelCase JSON of the data types; every field is
//! optional. `name`, when given, must equal the (percent-decoded) name in
//! the path. A missing `id` keeps the existing item's id, or takes max id + 1
//! for a new item; an `id` used by another item answers 409. Defaults for the
//! rest: user `email` `<name>@example.com`, `fullName` = name, `status`
//! `Active`, no entities or roles; role `description` empty, no privileges;
//! privilege `description` empty, `kind` (alias `type`) `Screen`; entity
//! `kind` `Entity` (it must be a plain XML name, as it becomes an element
//! name). Errors answer `{"error": "..."}` with status 400, 404 or 409.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, routing::post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::dataset::{Entity, Privilege, Role, User};
use crate::fault::{Fault, FaultKind};
#[cfg(doc)]
use crate::server::SeenRequest;
use crate::server::{Item, Shared, lock};
use crate::token::TokenStats;
use crate::xml::is_simple_name;

type AppState = State<Arc<Shared>>;

/// The admin routes (relative to `/admin`).
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/state", get(state))
        .route(
            "/users/{name}",
            get(get_user).put(put_user).delete(delete_user),
        )
        .route(
            "/roles/{name}",
            get(get_role).put(put_role).delete(delete_role),
        )
        .route(
            "/privileges/{name}",
            get(get_privilege)
                .put(put_privilege)
                .delete(delete_privilege),
        )
        .route(
            "/entities/{name}",
            get(get_entity).put(put_entity).delete(delete_entity),
        )
        .route("/requests", get(list_requests).delete(clear_requests))
        .route("/received", get(list_received))
        .route(
            "/faults",
            post(add_fault).get(list_faults).delete(clear_faults),
        )
        .route("/stalls", get(stalls).delete(release_stalls))
        .route("/tokens", get(tokens))
        .route("/tokens/expire", post(expire_tokens))
}

/// An admin API error, answered as `{"error": message}`.
struct ApiError {
    status: StatusCode,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        message: message.into(),
    }
}

type ApiResult = Result<Response, ApiError>;

fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

/// Checks the body name against the path and picks the id.
fn resolve<T: Item>(
    list: &[T],
    path_name: &str,
    body_name: Option<&str>,
    wanted: Option<u64>,
) -> Result<u64, ApiError> {
    if let Some(body_name) = body_name
        && body_name != path_name
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("name {body_name:?} in the body differs from {path_name:?} in the path"),
        ));
    }
    let existing = list.iter().find(|i| i.name() == path_name).map(Item::id);
    match wanted {
        Some(id) => {
            if let Some(other) = list.iter().find(|i| i.id() == id && i.name() != path_name) {
                return Err(error(
                    StatusCode::CONFLICT,
                    format!("id {id} is already used by {:?}", other.name()),
                ));
            }
            Ok(id)
        }
        None => Ok(existing.unwrap_or_else(|| {
            list.iter()
                .map(Item::id)
                .max()
                .unwrap_or(0)
                .saturating_add(1)
        })),
    }
}

fn stored<T: serde::Serialize>(created: bool, item: &T) -> ApiResult {
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(item)).into_response())
}

fn not_found(what: &str, name: &str) -> ApiError {
    error(
        StatusCode::NOT_FOUND,
        format!("{what} {name:?} does not exist"),
    )
}

fn found<T: serde::Serialize>(item: Option<&T>, what: &str, name: &str) -> ApiResult {
    match item {
        Some(item) => Ok(Json(item).into_response()),
        None => Err(not_found(what, name)),
    }
}

/// 204 when `removed`, else 404 for the `what` named `name`.
fn deleted(removed: bool, what: &str, name: &str) -> ApiResult {
    if removed {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(not_found(what, name))
    }
}

async fn state(State(shared): AppState) -> Response {
    let requests = lock(&shared.requests).len();
    let store = lock(&shared.store);
    let d = &store.data;
    Json(json!({
        "users": d.users.len(),
        "entities": d.entities.len(),
        "roles": d.roles.len(),
        "privileges": d.privileges.len(),
        "requests": requests,
    }))
    .into_response()
}

// ---- users ----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UserInput {
    id: Option<u64>,
    name: Option<String>,
    email: Option<String>,
    full_name: Option<String>,
    status: Option<String>,
    entities: Option<Vec<String>>,
    roles: Option<Vec<String>>,
}

async fn get_user(State(shared): AppState, Path(name): Path<String>) -> ApiResult {
    let store = lock(&shared.store);
    found(store.data.user(&name), "user", &name)
}

async fn put_user(State(shared): AppState, Path(name): Path<String>, body: Bytes) -> ApiResult {
    let input: UserInput = parse_body(&body)?;
    let mut store = lock(&shared.store);
    let id = resolve(&store.data.users, &name, input.name.as_deref(), input.id)?;
    let user = User {
        id,
        email: input.email.unwrap_or_else(|| format!("{name}@example.com")),
        full_name: input.full_name.unwrap_or_else(|| name.clone()),
        status: input.status.unwrap_or_else(|| "Active".to_owned()),
        entities: input.entities.unwrap_or_default(),
        roles: input.roles.unwrap_or_default(),
        name,
    };
    let created = store.set_user(user.clone());
    stored(created, &user)
}

async fn delete_user(State(shared): AppState, Path(name): Path<String>) -> ApiResult {
    let removed = lock(&shared.store).remove_user(&name);
    deleted(removed, "user", &name)
}

// ---- roles ----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RoleInput {
    id: Option<u64>,
    name: Option<String>,
    description: Option<String>,
    privileges: Option<Vec<String>>,
}

async fn get_role(State(shared): AppState, Path(name): Path<String>) -> ApiResult {
    let store = lock(&shared.store);
    found(store.data.role(&name), "role", &name)
}

async fn put_role(State(shared): AppState, Path(name): Path<String>, body: Bytes) -> ApiResult {
    let input: RoleInput = parse_body(&body)?;
    let mut store = lock(&shared.store);
    let id = resolve(&store.data.roles, &name, input.name.as_deref(), input.id)?;
    let role = Role {
        id,
        name,
        description: input.description.unwrap_or_default(),
        privileges: input.privileges.unwrap_or_default(),
    };
    let created = store.set_role(role.clone());
    stored(created, &role)
}

async fn delete_role(State(shared): AppState, Path(name): Path<String>) -> ApiResult {
    let removed = lock(&shared.store).remove_role(&name);
    deleted(removed, "role", &name)
}

// ---- privileges ----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PrivilegeInput {
    id: Option<u64>,
    name: Option<String>,
    description: Option<String>,
    #[serde(alias = "type")]
    kind: Option<String>,
}

async fn get_privilege(State(shared): AppState, Path(name): Path<String>) -> ApiResult {
    let store = lock(&shared.store);
    found(store.data.privilege(&name), "privilege", &name)
}

async fn put_privilege(
    State(shared): AppState,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult {
    let input: PrivilegeInput = parse_body(&body)?;
    let mut store = lock(&shared.store);
    let id = resolve(
        &store.data.privileges,
        &name,
        input.name.as_deref(),
        input.id,
    )?;
    let privilege = Privilege {
        id,
        name,
        description: input.description.unwrap_or_default(),
        kind: input.kind.unwrap_or_else(|| "Screen".to_owned()),
    };
    let created = store.set_privilege(privilege.clone());
    stored(created, &privilege)
}

async fn delete_privilege(State(shared): AppState, Path(name): Path<String>) -> ApiResult {
    let removed = lock(&shared.store).remove_privilege(&name);
    deleted(removed, "privilege", &name)
}

// ---- entities ----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EntityInput {
    id: Option<u64>,
    name: Option<String>,
    kind: Option<String>,
}

async fn get_entity(State(shared): AppState, Path(name): Path<String>) -> ApiResult {
    let store = lock(&shared.store);
    found(store.data.entity(&name), "entity", &name)
}

async fn put_entity(State(shared): AppState, Path(name): Path<String>, body: Bytes) -> ApiResult {
    let input: EntityInput = parse_body(&body)?;
    let kind = input.kind.unwrap_or_else(|| "Entity".to_owned());
    if !is_simple_name(&kind) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("kind {kind:?} is not a plain XML element name"),
        ));
    }
    let mut store = lock(&shared.store);
    let id = resolve(&store.data.entities, &name, input.name.as_deref(), input.id)?;
    let entity = Entity { id, name, kind };
    let created = store.set_entity(entity.clone());
    stored(created, &entity)
}

async fn delete_entity(State(shared): AppState, Path(name): Path<String>) -> ApiResult {
    let removed = lock(&shared.store).remove_entity(&name);
    deleted(removed, "entity", &name)
}

// ---- requests and faults ----

async fn list_requests(State(shared): AppState) -> Response {
    let requests = lock(&shared.requests).clone();
    Json(requests).into_response()
}

async fn list_received(State(shared): AppState) -> Response {
    let received = lock(&shared.received).clone();
    Json(received).into_response()
}

async fn clear_requests(State(shared): AppState) -> Response {
    lock(&shared.requests).clear();
    lock(&shared.received).clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn add_fault(State(shared): AppState, body: Bytes) -> ApiResult {
    let mut fault: Fault = parse_body(&body)?;
    if let FaultKind::HttpStatus { status, .. } = &fault.kind
        && StatusCode::from_u16(*status).is_err()
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("{status} is not a valid HTTP status"),
        ));
    }
    if let FaultKind::ContentType { value } = &fault.kind
        && HeaderValue::from_str(value).is_err()
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("{value:?} is not a valid header value"),
        ));
    }
    fault.count = fault.count.max(1);
    shared.inject_fault(fault.clone());
    Ok((StatusCode::CREATED, Json(fault)).into_response())
}

async fn list_faults(State(shared): AppState) -> Response {
    let faults: Vec<Fault> = lock(&shared.faults).iter().cloned().collect();
    Json(faults).into_response()
}

async fn clear_faults(State(shared): AppState) -> Response {
    lock(&shared.faults).clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn stalls(State(shared): AppState) -> Response {
    let stalls = &shared.stalls;
    Json(json!({ "stalled": stalls.stalled(), "held": stalls.held() })).into_response()
}

async fn release_stalls(State(shared): AppState) -> Response {
    shared.stalls.release();
    StatusCode::NO_CONTENT.into_response()
}

// ---- tokens ----

/// The `GET /admin/tokens` answer.
#[derive(serde::Serialize)]
struct TokensView {
    enabled: bool,
    #[serde(flatten)]
    stats: TokenStats,
}

async fn tokens(State(shared): AppState) -> Response {
    Json(TokensView {
        enabled: shared.tokens.mode().is_some(),
        stats: shared.tokens.stats(),
    })
    .into_response()
}

async fn expire_tokens(State(shared): AppState) -> Response {
    shared.tokens.expire_all();
    StatusCode::NO_CONTENT.into_response()
}
