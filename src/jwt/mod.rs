//! JWTs: our signing keys (RFC 7517/7638), minting access tokens (RFC 9068) and ID tokens (OIDC Core §2), DPoP proofs (RFC 9449).

pub mod assertion;
pub mod dpop;
pub mod jwk_set;
pub mod kek;
pub mod keys;
pub mod mint;
pub mod remote_jwks;
pub mod verify;
