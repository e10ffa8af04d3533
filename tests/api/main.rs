//! One integration binary: every test drives a real server over HTTP, on SQLite and PostgreSQL.

mod browser;
mod helpers;
mod idp;

mod authorization_code;
mod authorize;
pub mod cli;
mod client_credentials;
mod errors;
mod hostile_input;
mod jwt_bearer;
mod keys;
mod lifecycle;
mod limits;
mod oidc;
mod operations;
mod password;
mod refresh;
mod users_import;
