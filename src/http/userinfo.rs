//! `GET/POST /userinfo`, OIDC Core §5.3, with RFC 6750 §3 bearer errors.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::app::App;
use crate::grants::issue::profile_claims;
use crate::jwt::verify;
use crate::oauth::scope;

pub async fn userinfo(State(app): State<App>, headers: HeaderMap) -> Response {
    let Some(token) = bearer(&headers) else {
        return challenge(StatusCode::UNAUTHORIZED, "Bearer realm=\"oauthd\"".into(), None);
    };
    let claims = match verify::access_token(&app.keys.load(), &app.settings.issuer, token) {
        Ok(c) => c,
        Err(why) => return invalid_token(why),
    };
    match app.store.is_jti_revoked(&claims.jti).await {
        Ok(false) => {}
        Ok(true) => return invalid_token("the token was revoked"),
        Err(e) => return crate::error::TokenError::from(e).into_response(),
    }
    if !scope::contains(&claims.scope, "openid") {
        let h = "Bearer realm=\"oauthd\", error=\"insufficient_scope\", scope=\"openid\"".to_string();
        return challenge(StatusCode::FORBIDDEN, h, Some("insufficient_scope"));
    }
    let user = match app.store.get_user(&claims.sub).await {
        Ok(Some(u)) if !u.disabled => u,
        Ok(_) => return invalid_token("the user no longer exists or is disabled"),
        Err(e) => return crate::error::TokenError::from(e).into_response(),
    };
    let mut body = profile_claims(&user, &claims.scope);
    body.insert("sub".into(), Value::String(user.id));
    super::no_store(StatusCode::OK, &body)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

fn invalid_token(why: &str) -> Response {
    let h = format!("Bearer realm=\"oauthd\", error=\"invalid_token\", error_description=\"{why}\"");
    challenge(StatusCode::UNAUTHORIZED, h, Some("invalid_token"))
}

fn challenge(status: StatusCode, www: String, error: Option<&str>) -> Response {
    let body = error.map_or(json!({}), |e| json!({ "error": e }));
    let mut r = super::no_store(status, &body);
    if let Ok(v) = HeaderValue::from_str(&www) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r.into_response()
}
