//! Pure OAuth rules, no I/O: form parameters (RFC 6749 §3.1–3.2), scopes (§3.3), PKCE (RFC 7636),
//! redirect URIs, secrets, device and user codes (RFC 8628), refresh-token format and standing
//! (§6), subjects, OIDC claims, and the token-endpoint error codes (§5.2).

pub mod claims;
pub mod device;
pub mod error;
pub mod form;
pub mod params;
pub mod pkce;
pub mod redirect_uri;
pub mod refresh;
pub mod scope;
pub mod secret;
pub mod subject;

pub use error::TokenError;
pub use form::Form;
