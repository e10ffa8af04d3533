//! Every flow, both halves together: the token endpoint's grants (RFC 6749 §4, §6; RFC 7523), the
//! authorization-code front channel (§4.1), login and lockout, client authentication (§2.3),
//! introspection (RFC 7662), revocation (RFC 7009), userinfo (OIDC Core §5.3), logout (with
//! back-channel logout delivery), dynamic client registration (RFC 7591, RFC 7592), DPoP (RFC 9449)
//! and discovery.

pub mod authorize;
pub mod backchannel;
pub mod client_auth;
pub mod discovery;
pub mod dpop;
pub mod grants;
pub mod login;
pub mod logout;
pub mod registration;
pub mod tokens;
pub mod userinfo;
