//! One integration binary: every test drives a real server over HTTP, on SQLite and PostgreSQL.

mod browser;
mod helpers;
mod idp;
mod probe;

mod authorization_code;
mod authorize;
mod backchannel;
mod caches;
mod cancellation;
mod claims;
pub mod cli;
mod client_credentials;
mod consent;
mod errors;
mod faults;
mod form_post;
mod front_channel;
mod hostile_input;
mod identity;
mod jwt_bearer;
mod keys;
mod layers;
mod lifecycle;
mod limits;
mod listener;
mod logout;
mod oidc;
mod operations;
mod password;
mod password_faults;
mod private_key_jwt;
mod refresh;
mod refresh_upgrade;
mod remote_jwks;
mod trust_check;
mod users_import;
