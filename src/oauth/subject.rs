//! The subject rule: user flows use the user ID (`<connection>|<id>`), client_credentials uses
//! `<client_id>@clients`. Client IDs may not contain `|` or `@`, so the two never collide.

pub const CLIENT_SUFFIX: &str = "@clients";

pub fn client_subject(client_id: &str) -> String {
    format!("{client_id}{CLIENT_SUFFIX}")
}

/// A user subject must not read as a client subject to a resource server that checks the suffix.
pub fn looks_like_client_subject(sub: &str) -> bool {
    sub.ends_with(CLIENT_SUFFIX)
}

/// A client ID is 1–128 characters of `[A-Za-z0-9._~-]`.
pub fn is_valid_client_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b))
}

pub fn new_user_id(connection: &str) -> String {
    let mut b = [0u8; 12];
    super::secret::fill(&mut b);
    format!("{connection}|{}", hex::encode(b))
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
}
