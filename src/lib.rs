//! oauthd: a standalone OAuth 2.0 authorization server (RFC 6749) issuing RFC 9068 JWT access tokens.

pub mod admin;
pub mod app;
pub mod cache;
pub mod cli;
pub mod config;
pub mod error;
pub mod grants;
pub mod http;
pub mod jwt;
pub mod limits;
pub mod login;
pub mod metrics;
pub mod oauth;
pub mod password;
pub mod store;
pub mod throttle;
pub mod tokens;

pub use app::{router, serve, serve_until, App, AppState};
pub use config::Settings;
