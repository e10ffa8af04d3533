//! The device authorization grant, RFC 8628, all three parts together: the device authorization
//! endpoint (§3.1–3.2, here), the verification page the user visits (§3.3, `verify`), and the
//! client's polling at the token endpoint (§3.4–3.5, `poll`).

pub mod poll;
pub mod verify;

use std::net::IpAddr;

use axum::http::HeaderMap;
use serde::Serialize;

use crate::clock::later;
use crate::flows::client_auth::authenticate;
use crate::flows::grants::resolve_target;
use crate::oauth::device::{self, GRANT_TYPE};
use crate::oauth::{secret, Form, TokenError};
use crate::state::AppState;
use crate::store::{DeviceCode, DeviceStatus, StoreError};

/// RFC 8628 §3.2: the device authorization response.
#[derive(Debug, Serialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: u64,
    pub interval: u64,
}

/// New user codes tried when one collides with a live code (20^8 codes: collisions are rare).
const USER_CODE_TRIES: usize = 4;

/// `POST /device_authorization`: authenticates the client (or identifies a public one), checks
/// that it may use the grant, resolves the audience and scope as the token endpoint would, and
/// stores a new device code.
pub async fn authorize(
    app: &AppState,
    headers: &HeaderMap,
    form: &Form,
    ip: IpAddr,
    now: i64,
) -> Result<DeviceAuthorization, TokenError> {
    app.limits.check_ip(ip)?;
    let client = authenticate(app, headers, form).await?;
    app.limits.check_client(client.id())?;
    if !client.entry.client.allows_grant(GRANT_TYPE) {
        return Err(TokenError::unauthorized(format!("client is not allowed the {GRANT_TYPE} grant")));
    }
    let (audience, scope) = resolve_target(&app.settings, &client.entry, form, true)?;
    let settings = &app.settings;
    let device_code = device::new_device_code();
    for _ in 0..USER_CODE_TRIES {
        let user_code = device::new_user_code();
        let row = DeviceCode {
            hash: secret::digest(&device_code),
            user_code_hash: device::user_code_hash(&user_code),
            client_id: client.id().to_string(),
            scope: scope.clone(),
            audience: audience.clone(),
            created_at: now,
            expires_at: later(now, settings.device_code_ttl),
            poll_interval: i64::try_from(settings.device_poll_interval).unwrap_or(5),
            polled_at_ms: None,
            slowed: false,
            status: DeviceStatus::Pending,
            user_id: None,
            auth_time: None,
            sid: None,
        };
        match app.store.insert_device_code(&row).await {
            Ok(()) => {
                let shown = device::display(&user_code);
                let verification_uri = settings.device_verification_uri();
                let complete = format!("{verification_uri}?user_code={shown}");
                tracing::info!(event = "device_authorization", client_id = client.id(), "device code issued");
                return Ok(DeviceAuthorization {
                    device_code,
                    user_code: shown,
                    verification_uri,
                    verification_uri_complete: complete,
                    expires_in: settings.device_code_ttl,
                    interval: settings.device_poll_interval,
                });
            }
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(TokenError::Internal(anyhow::anyhow!("no free user code after {USER_CODE_TRIES} tries")))
}
