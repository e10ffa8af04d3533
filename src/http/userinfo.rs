//! `GET/POST /userinfo`, OIDC Core §5.3: the access token in the `Authorization` header, or in a
//! POST form body (RFC 6750 §2.2), and RFC 6750 §3 errors with `WWW-Authenticate`.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::flows::userinfo::{self, BearerError, Presented};
use crate::http::extract::{bearer, read_form};
use crate::oauth::TokenError;
use crate::state::App;

pub async fn userinfo(State(app): State<App>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let form_body = parts.method == Method::POST && is_form(&parts.headers);
    let form = if form_body {
        match read_form(&parts.headers, axum::body::Body::new(body)).await {
            Ok(f) => Some(f),
            Err(TokenError::InvalidRequest(_)) => {
                return BearerError::InvalidRequest("the form body is malformed").into_response()
            }
            Err(e) => return e.into_response(),
        }
    } else {
        None
    };
    let presented =
        Presented { header: bearer(&parts.headers), body: form.as_ref().and_then(|f| f.get("access_token")) };
    match userinfo::userinfo(&app, presented).await {
        Ok(body) => super::no_store(StatusCode::OK, &body),
        Err(e) => e.into_response(),
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/x-www-form-urlencoded")
}

impl IntoResponse for BearerError {
    fn into_response(self) -> Response {
        match self {
            BearerError::Missing => challenge(StatusCode::UNAUTHORIZED, "Bearer realm=\"oauthd\"".into(), None),
            BearerError::InvalidRequest(why) => {
                let h = format!("Bearer realm=\"oauthd\", error=\"invalid_request\", error_description=\"{why}\"");
                challenge(StatusCode::BAD_REQUEST, h, Some(("invalid_request", why)))
            }
            BearerError::InvalidToken(why) => {
                let h = format!("Bearer realm=\"oauthd\", error=\"invalid_token\", error_description=\"{why}\"");
                challenge(StatusCode::UNAUTHORIZED, h, Some(("invalid_token", why)))
            }
            BearerError::InsufficientScope(scope) => {
                let h = format!("Bearer realm=\"oauthd\", error=\"insufficient_scope\", scope=\"{scope}\"");
                challenge(StatusCode::FORBIDDEN, h, Some(("insufficient_scope", "the token lacks the openid scope")))
            }
            BearerError::Store(e) => e.into_response(),
        }
    }
}

fn challenge(status: StatusCode, www: String, error: Option<(&str, &str)>) -> Response {
    let body = error.map_or(json!({}), |(e, d)| json!({ "error": e, "error_description": d }));
    let mut r = super::no_store(status, &body);
    if let Ok(v) = HeaderValue::from_str(&www) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}
