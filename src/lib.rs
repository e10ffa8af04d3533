//! oauthd: a standalone OAuth 2.0 authorization server (RFC 6749) issuing RFC 9068 JWT access tokens.
//!
//! Layers, bottom up; a module imports only from its own layer or below (`tests/layers.rs`):
//! 0 `config`, `clock`, `metrics` · 1 `store` · 2 `oauth`, `jwt`, `net`, `password` · 3 `state` ·
//! 4 `flows`, then `admin` · 5 `http` · 6 `cli`.

pub mod admin;
pub mod cli;
pub mod clock;
pub mod config;
pub mod flows;
pub mod http;
pub mod jwt;
pub mod metrics;
pub mod net;
pub mod oauth;
pub mod password;
pub mod state;
pub mod store;

pub use config::Settings;
pub use http::{router, serve, serve_until};
pub use state::{App, AppState};
