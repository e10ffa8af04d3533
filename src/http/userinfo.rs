//! `GET/POST /userinfo`, OIDC Core §5.3, with RFC 6750 §3 bearer errors.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::flows::userinfo::{self, BearerError};
use crate::state::App;

pub async fn userinfo(State(app): State<App>, headers: HeaderMap) -> Response {
    match userinfo::userinfo(&app, bearer(&headers)).await {
        Ok(body) => super::no_store(StatusCode::OK, &body),
        Err(e) => e.into_response(),
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

impl IntoResponse for BearerError {
    fn into_response(self) -> Response {
        match self {
            BearerError::Missing => challenge(StatusCode::UNAUTHORIZED, "Bearer realm=\"oauthd\"".into(), None),
            BearerError::InvalidToken(why) => {
                let h = format!("Bearer realm=\"oauthd\", error=\"invalid_token\", error_description=\"{why}\"");
                challenge(StatusCode::UNAUTHORIZED, h, Some("invalid_token"))
            }
            BearerError::InsufficientScope(scope) => {
                let h = format!("Bearer realm=\"oauthd\", error=\"insufficient_scope\", scope=\"{scope}\"");
                challenge(StatusCode::FORBIDDEN, h, Some("insufficient_scope"))
            }
            BearerError::Store(e) => e.into_response(),
        }
    }
}

fn challenge(status: StatusCode, www: String, error: Option<&str>) -> Response {
    let body = error.map_or(json!({}), |e| json!({ "error": e }));
    let mut r = super::no_store(status, &body);
    if let Ok(v) = HeaderValue::from_str(&www) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}
