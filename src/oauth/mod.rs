//! Pure OAuth rules, no I/O: scopes (RFC 6749 §3.3), secrets, subjects.

pub mod pkce;
pub mod redirect_uri;
pub mod scope;
pub mod secret;
pub mod subject;
