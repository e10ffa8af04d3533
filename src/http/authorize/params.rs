//! Reading front-channel requests: the query (GET) or form body (POST) of /authorize, /login,
//! /consent and /logout, parsed by `oauth::params`.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};

use crate::http::extract::MAX_BODY_BYTES;
use crate::oauth::form::Form;
use crate::oauth::params::{parse, Params};

/// Everything a front-channel handler needs from the request.
pub struct Front {
    pub headers: HeaderMap,
    pub params: Params,
    pub ip: std::net::IpAddr,
}

impl Front {
    pub fn form(&self) -> &Form {
        &self.params.form
    }
}

/// Reads the query (GET) or the form body (POST). An error is the status and message of a page.
pub async fn front(req: Request, from_query: bool, known: &[&str]) -> Result<Front, (StatusCode, &'static str)> {
    let ip = crate::http::client_ip(req.extensions());
    let (parts, body) = req.into_parts();
    let bytes = if from_query {
        Bytes::from(parts.uri.query().unwrap_or("").to_string())
    } else {
        axum::body::to_bytes(Body::new(body), MAX_BODY_BYTES).await.map_err(|e| {
            let too_large = std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if too_large {
                (StatusCode::PAYLOAD_TOO_LARGE, "The request is too large.")
            } else {
                (StatusCode::BAD_REQUEST, "The request could not be read.")
            }
        })?
    };
    let params = parse(&bytes, known).map_err(|msg| (StatusCode::BAD_REQUEST, msg))?;
    Ok(Front { headers: parts.headers, params, ip })
}
