//! One handler per admin route: authenticate with the route's scope, parse, call, respond.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::{ctx, json, respond};
use crate::admin::calls::{clients, misc, users, Page};
use crate::state::App;

const JSON: &str = "application/json";
const MERGE_PATCH: &str = "application/merge-patch+json";

type Id = Path<String>;

/// Runs `$call` with the context of a call that needs `$scope`, parsing nothing.
macro_rules! call {
    ($app:expr, $h:expr, $scope:literal, |$ctx:ident| $call:expr) => {
        match ctx(&$app, &$h, $scope, b"").await {
            Ok($ctx) => respond($call.await),
            Err(e) => respond(Err(e)),
        }
    };
    ($app:expr, $h:expr, $scope:literal, $body:expr, $media:expr, |$ctx:ident, $req:ident| $call:expr) => {
        match ctx(&$app, &$h, $scope, &$body).await {
            Ok($ctx) => match json(&$h, &$body, $media) {
                Ok($req) => respond($call.await),
                Err(e) => respond(Err(e)),
            },
            Err(e) => respond(Err(e)),
        }
    };
}

pub async fn list_apis(State(app): State<App>, h: HeaderMap) -> Response {
    call!(app, h, "apis:read", |c| misc::list_apis(&c))
}
pub async fn create_api(State(app): State<App>, h: HeaderMap, b: Bytes) -> Response {
    call!(app, h, "apis:write", b, JSON, |c, r| misc::create_api(&c, r))
}
pub async fn show_api(State(app): State<App>, h: HeaderMap, Path(id): Id) -> Response {
    call!(app, h, "apis:read", |c| misc::show_api(&c, &id))
}

pub async fn list_clients(State(app): State<App>, h: HeaderMap, Query(q): Query<clients::Filter>) -> Response {
    call!(app, h, "clients:read", |c| clients::list(&c, q))
}
pub async fn create_client(State(app): State<App>, h: HeaderMap, b: Bytes) -> Response {
    call!(app, h, "clients:write", b, JSON, |c, r| clients::create(&c, r))
}
pub async fn show_client(State(app): State<App>, h: HeaderMap, Path(id): Id) -> Response {
    call!(app, h, "clients:read", |c| clients::show(&c, &id))
}
pub async fn update_client(State(app): State<App>, h: HeaderMap, Path(id): Id, b: Bytes) -> Response {
    call!(app, h, "clients:write", b, MERGE_PATCH, |c, p| clients::update(&c, &id, p))
}
pub async fn delete_client(State(app): State<App>, h: HeaderMap, Path(id): Id) -> Response {
    call!(app, h, "clients:write", |c| clients::delete(&c, &id))
}
pub async fn enable_client(State(app): State<App>, h: HeaderMap, Path(id): Id) -> Response {
    call!(app, h, "clients:write", |c| clients::set_disabled(&c, &id, false))
}
pub async fn disable_client(State(app): State<App>, h: HeaderMap, Path(id): Id) -> Response {
    call!(app, h, "clients:write", |c| clients::set_disabled(&c, &id, true))
}
pub async fn rotate_secret(State(app): State<App>, h: HeaderMap, Path(id): Id) -> Response {
    call!(app, h, "clients:write", |c| clients::rotate_secret(&c, &id))
}
pub async fn grant(
    State(app): State<App>,
    h: HeaderMap,
    Path((id, api)): Path<(String, String)>,
    b: Bytes,
) -> Response {
    call!(app, h, "clients:write", b, JSON, |c, g| clients::grant(&c, &id, &api, g))
}
pub async fn client_families(State(app): State<App>, h: HeaderMap, Path(id): Id) -> Response {
    call!(app, h, "clients:read", |c| clients::refresh_families(&c, &id))
}
pub async fn revoke_client_families(State(app): State<App>, h: HeaderMap, Path(id): Id) -> Response {
    call!(app, h, "sessions:write", |c| clients::revoke_refresh_families(&c, &id))
}

pub async fn list_users(State(app): State<App>, h: HeaderMap, Query(q): Query<Page>) -> Response {
    call!(app, h, "users:read", |c| users::list(&c, q))
}
pub async fn create_user(State(app): State<App>, h: HeaderMap, b: Bytes) -> Response {
    call!(app, h, "users:write", b, JSON, |c, r| users::create(&c, r))
}
pub async fn show_user(State(app): State<App>, h: HeaderMap, Path(id): Id) -> Response {
    call!(app, h, "users:read", |c| users::show(&c, &id))
}
pub async fn update_user(State(app): State<App>, h: HeaderMap, Path(id): Id, b: Bytes) -> Response {
    call!(app, h, "users:write", b, MERGE_PATCH, |c, p| users::update(&c, &id, p))
}
pub async fn delete_user(State(app): State<App>, h: HeaderMap, Path(id): Id) -> Response {
    call!(app, h, "users:write", |c| users::delete(&c, &id))
}
pub async fn set_password(State(app): State<App>, h: HeaderMap, Path(id): Id, b: Bytes) -> Response {
    call!(app, h, "users:write", b, JSON, |c, p| users::set_password(&c, &id, p))
}
pub async fn enable_user(State(app): State<App>, h: HeaderMap, Path(id): Id) -> Response {
    call!(app, h, "users:write", |c| users::set_disabled(&c, &id, false))
}
pub async fn disable_user(State(app): State<App>, h: HeaderMap, Path(id): Id) -> Response {
    call!(app, h, "users:write", |c| users::set_disabled(&c, &id, true))
}
pub async fn link_user(State(app): State<App>, h: HeaderMap, Path(id): Id, b: Bytes) -> Response {
    call!(app, h, "users:write", b, JSON, |c, l| users::link(&c, &id, l))
}
pub async fn user_sessions(State(app): State<App>, h: HeaderMap, Path(id): Id) -> Response {
    call!(app, h, "users:read", |c| users::sessions(&c, &id))
}
pub async fn end_user_sessions(State(app): State<App>, h: HeaderMap, Path(id): Id) -> Response {
    call!(app, h, "sessions:write", |c| users::end_sessions(&c, &id))
}
pub async fn user_families(State(app): State<App>, h: HeaderMap, Path(id): Id) -> Response {
    call!(app, h, "users:read", |c| users::refresh_families(&c, &id))
}
pub async fn consents(State(app): State<App>, h: HeaderMap, Path(id): Id) -> Response {
    call!(app, h, "users:read", |c| users::consents(&c, &id))
}
pub async fn revoke_consent(
    State(app): State<App>,
    h: HeaderMap,
    Path((id, client)): Path<(String, String)>,
) -> Response {
    call!(app, h, "users:write", |c| users::revoke_consent(&c, &id, &client))
}

/// `?format=auth0` (the only format, and the default).
#[derive(Debug, Default, serde::Deserialize)]
pub struct ImportQuery {
    format: Option<String>,
}

pub async fn import_users(State(app): State<App>, h: HeaderMap, Query(q): Query<ImportQuery>, b: Bytes) -> Response {
    call!(app, h, "users:write", |c| async {
        if q.format.as_deref().unwrap_or("auth0") != "auth0" {
            return Err(crate::admin::AdminError::Invalid("format must be auth0".into()));
        }
        let text = String::from_utf8(b.to_vec())
            .map_err(|_| crate::admin::AdminError::Invalid("the export is not UTF-8".into()))?;
        users::import(&c, text).await
    })
}

pub async fn list_keys(State(app): State<App>, h: HeaderMap) -> Response {
    call!(app, h, "keys:read", |c| misc::list_keys(&c))
}
pub async fn rotate_key(State(app): State<App>, h: HeaderMap, b: Bytes) -> Response {
    if b.is_empty() {
        return call!(app, h, "keys:write", |c| misc::rotate_key(&c, misc::Rotate::default()));
    }
    call!(app, h, "keys:write", b, JSON, |c, r| misc::rotate_key(&c, r))
}

pub async fn list_issuers(State(app): State<App>, h: HeaderMap) -> Response {
    call!(app, h, "trust:read", |c| misc::list_issuers(&c))
}
pub async fn add_issuer(State(app): State<App>, h: HeaderMap, b: Bytes) -> Response {
    call!(app, h, "trust:write", b, JSON, |c, r| misc::add_issuer(&c, r))
}
pub async fn check_assertion(State(app): State<App>, h: HeaderMap, b: Bytes) -> Response {
    call!(app, h, "trust:read", b, JSON, |c, r| misc::check_assertion(&c, r))
}
pub async fn show_issuer(State(app): State<App>, h: HeaderMap, Path(id): Id) -> Response {
    call!(app, h, "trust:read", |c| misc::show_issuer(&c, &id))
}
pub async fn remove_issuer(State(app): State<App>, h: HeaderMap, Path(id): Id) -> Response {
    call!(app, h, "trust:write", |c| misc::remove_issuer(&c, &id))
}
pub async fn enable_issuer(State(app): State<App>, h: HeaderMap, Path(id): Id) -> Response {
    call!(app, h, "trust:write", |c| misc::set_issuer_enabled(&c, &id, true))
}
pub async fn disable_issuer(State(app): State<App>, h: HeaderMap, Path(id): Id) -> Response {
    call!(app, h, "trust:write", |c| misc::set_issuer_enabled(&c, &id, false))
}

pub async fn audit(State(app): State<App>, h: HeaderMap, Query(q): Query<misc::AuditQuery>) -> Response {
    call!(app, h, "audit:read", |c| misc::audit(&c, q))
}

/// Any other path under /admin/v1: a problem, like every admin answer.
pub async fn unknown() -> Response {
    respond(Err(crate::admin::AdminError::NotFound("no such admin endpoint".into())))
}
