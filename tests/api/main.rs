//! One integration binary: every test drives a real server over HTTP, on SQLite and PostgreSQL.

mod helpers;

mod cli;
mod client_credentials;
mod errors;
mod keys;
mod oidc;
mod password;
mod refresh;
mod users_import;
