//! `grant_type=urn:ietf:params:oauth:grant-type:device_code`, RFC 8628 §3.4–3.5: the device
//! client polls with its device code until the user decides. The code is redeemed in one
//! statement, so concurrent polls get the tokens exactly once.

use crate::flows::grants::{issue, Ctx, Refresh, Subject, TokenResponse};
use crate::oauth::device::GRANT_TYPE;
use crate::oauth::{secret, subject, TokenError};
use crate::store::{DeviceCode, DeviceStatus};

pub async fn handle(ctx: &Ctx<'_>) -> Result<TokenResponse, TokenError> {
    let code = ctx.form.require("device_code")?;
    let hash = secret::digest(code);
    let store = ctx.app.store.as_ref();
    let row = store
        .poll_device_code(&hash, ctx.client.id(), crate::clock::now_ms())
        .await?
        .ok_or_else(|| TokenError::grant("device_code is unknown or was issued to another client"))?;
    if row.expires_at <= ctx.now {
        return Err(TokenError::ExpiredToken);
    }
    match row.status {
        DeviceStatus::Pending if row.slowed => Err(TokenError::SlowDown),
        DeviceStatus::Pending => Err(TokenError::AuthorizationPending),
        DeviceStatus::Denied => Err(TokenError::AccessDenied),
        DeviceStatus::Used => Err(TokenError::grant("device_code was already used")),
        DeviceStatus::Approved => {
            let row = store
                .redeem_device_code(&hash, ctx.client.id(), ctx.now)
                .await?
                .ok_or_else(|| TokenError::grant("device_code was already used"))?;
            tokens(ctx, &row).await
        }
    }
}

/// The tokens for the user who approved `row`.
async fn tokens(ctx: &Ctx<'_>, row: &DeviceCode) -> Result<TokenResponse, TokenError> {
    let user_id = row.user_id.as_deref().ok_or_else(|| TokenError::grant("device_code has no user"))?;
    let user = ctx
        .app
        .store
        .get_user(user_id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(|| TokenError::grant("the user who approved the device is disabled or gone"))?;
    let s = Subject {
        sub: subject::of_user(&user),
        user: Some(&user),
        gty: "device-code",
        auth_time: row.auth_time,
        nonce: None,
        idp: None,
        sid: row.sid.as_deref(),
        requested: None,
    };
    issue(ctx, s, &row.audience, row.scope.clone(), Refresh::NewFamily).await
}

/// A rate-limited poll is answered `slow_down`, the one throttling answer a device client
/// understands (§3.5: it adds 5 s to its interval); other grants keep the 429.
pub fn throttled(grant_type: &str, e: TokenError) -> TokenError {
    match e {
        TokenError::TooManyRequests { .. } if grant_type == GRANT_TYPE => TokenError::SlowDown,
        e => e,
    }
}
