//! Every flow, both halves together: the token endpoint's grants (RFC 6749 §4, §6; RFC 7523), the
//! authorization-code front channel (§4.1), the device authorization grant (RFC 8628), login and lockout, client authentication (§2.3),
//! introspection (RFC 7662), revocation (RFC 7009), userinfo (OIDC Core §5.3), logout (with
//! back-channel logout delivery) and discovery.

pub mod authorize;
pub mod backchannel;
pub mod client_auth;
pub mod device;
pub mod discovery;
pub mod grants;
pub mod login;
pub mod logout;
pub mod tokens;
pub mod userinfo;
