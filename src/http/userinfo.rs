//! `GET/POST /userinfo`, OIDC Core §5.3: the access token in the `Authorization` header, or in a
//! POST form body (RFC 6750 §2.2), and RFC 6750 §3 errors with `WWW-Authenticate`; DPoP-bound
//! tokens with the `DPoP` scheme and `DPoP` challenges (RFC 9449 §7.1).

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::flows::userinfo::{self, BearerError, DpopError, Presented};
use crate::http::extract::read_form;
use crate::oauth::error::sanitize_description;
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
    let presented = Presented {
        bearer: credentials(&parts.headers, "bearer"),
        dpop: credentials(&parts.headers, "dpop"),
        body: form.as_ref().and_then(|f| f.get("access_token")),
        headers: &parts.headers,
        method: parts.method.as_str(),
    };
    match userinfo::userinfo(&app, presented).await {
        Ok(body) => super::no_store(StatusCode::OK, &body),
        Err(e) => e.into_response(),
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/x-www-form-urlencoded")
}

/// The token of an `Authorization: Bearer` header (RFC 6750 §2.1), if there is one.
pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    credentials(headers, "bearer")
}

/// The token of `Authorization: <scheme> <token>`, when the header uses `scheme`.
fn credentials<'h>(headers: &'h HeaderMap, scheme: &str) -> Option<&'h str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (given, token) = v.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then(|| token.trim()).filter(|t| !t.is_empty())
}

/// RFC 9449 §7.1: the `DPoP` challenge, with the algorithms we accept and the error, if any.
fn dpop_challenge(error: &str, description: &str) -> String {
    let algs = crate::jwt::dpop::ALGS.join(" ");
    let description = sanitize_description(description);
    format!("DPoP algs=\"{algs}\", error=\"{error}\", error_description=\"{description}\"")
}

impl IntoResponse for BearerError {
    fn into_response(self) -> Response {
        match self {
            BearerError::Missing => {
                let mut r = challenge(StatusCode::UNAUTHORIZED, "Bearer realm=\"oauthd\"".into(), None);
                let dpop = format!("DPoP algs=\"{}\"", crate::jwt::dpop::ALGS.join(" "));
                if let Ok(v) = HeaderValue::from_str(&dpop) {
                    r.headers_mut().append(header::WWW_AUTHENTICATE, v);
                }
                r
            }
            BearerError::Dpop(DpopError::InvalidToken(why)) => {
                let h = dpop_challenge("invalid_token", &why);
                challenge(StatusCode::UNAUTHORIZED, h, Some(("invalid_token", why.as_str())))
            }
            BearerError::Dpop(DpopError::InvalidProof(why)) => {
                let h = dpop_challenge("invalid_dpop_proof", &why);
                challenge(StatusCode::UNAUTHORIZED, h, Some(("invalid_dpop_proof", why.as_str())))
            }
            BearerError::Dpop(DpopError::UseNonce(nonce)) => {
                let why = "the DPoP proof must carry the nonce in DPoP-Nonce";
                let mut r = challenge(
                    StatusCode::UNAUTHORIZED,
                    dpop_challenge("use_dpop_nonce", why),
                    Some(("use_dpop_nonce", why)),
                );
                if let Ok(v) = HeaderValue::from_str(&nonce) {
                    r.headers_mut().insert(super::DPOP_NONCE.clone(), v);
                }
                r
            }
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
    let body = error.map_or(json!({}), |(e, d)| json!({ "error": e, "error_description": sanitize_description(d) }));
    let mut r = super::no_store(status, &body);
    if let Ok(v) = HeaderValue::from_str(&www) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}
