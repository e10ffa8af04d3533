//! The subject rule, the one place `sub` is decided: user flows (authorization code, password,
//! device code: the user who approved the device) use the user ID
//! (`<connection>|<id>`, Auth0-style), client_credentials uses `<client_id>@clients`, and
//! jwt-bearer passthrough uses `<alias>|<sub>`. Client IDs may not contain `|` or `@`, and no user
//! subject may end in `@clients`, so the kinds never collide.

use crate::store::User;

const CLIENT_SUFFIX: &str = "@clients";

/// `sub` of a token about the client itself (client_credentials).
pub fn of_client(client_id: &str) -> String {
    format!("{client_id}{CLIENT_SUFFIX}")
}

/// `sub` of a token about a local user: the user's ID.
pub fn of_user(user: &User) -> &str {
    &user.id
}

/// `sub` of a federated subject with no local user (jwt-bearer `passthrough`, and the ID a
/// `provision`ed user gets): `<alias>|<sub>`.
pub fn federated(alias: &str, sub: &str) -> String {
    format!("{alias}|{sub}")
}

/// The client a client subject names, if `sub` is one.
pub fn client_of(sub: &str) -> Option<&str> {
    sub.strip_suffix(CLIENT_SUFFIX)
}

/// A user subject must not read as a client subject to a resource server that checks the suffix.
pub fn looks_like_client_subject(sub: &str) -> bool {
    sub.ends_with(CLIENT_SUFFIX)
}

/// The connection part of a user subject (`local` of `local|abc`).
pub fn connection_of(sub: &str) -> &str {
    sub.split('|').next().unwrap_or("")
}

/// A client ID is 1–128 characters of `[A-Za-z0-9._~-]`.
pub fn is_valid_client_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b))
}

/// A fresh user ID on `connection`.
pub fn new_user_id(connection: &str) -> String {
    let mut b = [0u8; 12];
    super::secret::fill(&mut b);
    federated(connection, &hex::encode(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_cannot_look_like_user_ids_or_client_subjects() {
        assert!(is_valid_client_id("svc-1"));
        assert!(!is_valid_client_id("auth0|1"));
        assert!(!is_valid_client_id("x@clients"));
        assert!(new_user_id("local").starts_with("local|"));
    }

    #[test]
    fn client_subjects_round_trip_and_user_subjects_name_their_connection() {
        assert_eq!(of_client("svc"), "svc@clients");
        assert_eq!(client_of(&of_client("svc")), Some("svc"));
        assert_eq!(client_of("auth0|1"), None);
        assert_eq!(connection_of(&federated("corp", "42")), "corp");
    }
}
