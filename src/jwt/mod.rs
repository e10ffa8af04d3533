//! JWTs: our signing keys (RFC 7517/7638), minting access tokens (RFC 9068) and ID tokens (OIDC Core §2).

pub mod assertion;
pub mod jwk_set;
pub mod kek;
pub mod keys;
pub mod mint;
pub mod remote_jwks;
pub mod verify;
