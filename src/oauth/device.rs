//! Device authorization codes, RFC 8628 §3.2 and §6.1: the 256-bit device code, and the user code
//! of 8 characters from 20 consonants (about 34.5 bits), shown as `BCDF-GHJK`, read back
//! case-insensitively and ignoring punctuation and spaces.

use super::secret;

pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// RFC 8628 §6.1's example alphabet: no vowels (no words), no look-alike digits.
const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
const LEN: usize = 8;

/// A new device code: 256 random bits, base64url.
pub fn new_device_code() -> String {
    secret::random_token(32)
}

/// A new user code, normalised (`BCDFGHJK`); `display` adds the dash.
pub fn new_user_code() -> String {
    let mut out = String::with_capacity(LEN);
    let mut buf = [0u8; 16];
    while out.len() < LEN {
        secret::fill(&mut buf);
        // 240 = 12 × 20: rejecting the bytes above keeps every letter equally likely.
        for b in buf.iter().filter(|b| **b < 240) {
            if out.len() < LEN {
                out.push(char::from(ALPHABET[usize::from(*b % 20)]));
            }
        }
    }
    out
}

/// `BCDFGHJK` as the user sees it: `BCDF-GHJK`.
pub fn display(code: &str) -> String {
    match code.split_at_checked(LEN / 2) {
        Some((a, b)) => format!("{a}-{b}"),
        None => code.to_string(),
    }
}

/// What the user typed, normalised: upper case, with dashes, spaces and other punctuation gone.
/// `None` unless exactly 8 letters of the alphabet remain.
pub fn normalize(typed: &str) -> Option<String> {
    if typed.len() > 64 {
        return None;
    }
    let code: String = typed
        .chars()
        .filter(|c| !(c.is_whitespace() || c.is_ascii_punctuation()))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == LEN && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// The digest a user code is stored and looked up by.
pub fn user_code_hash(normalized: &str) -> String {
    secret::digest(normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_eight_consonants_and_read_back_however_typed() {
        for _ in 0..200 {
            let c = new_user_code();
            assert_eq!(c.len(), 8);
            assert!(c.bytes().all(|b| ALPHABET.contains(&b)), "{c}");
            assert_eq!(normalize(&display(&c)).as_deref(), Some(c.as_str()));
            assert_eq!(normalize(&display(&c).to_lowercase()).as_deref(), Some(c.as_str()));
        }
        assert_eq!(display("BCDFGHJK"), "BCDF-GHJK");
        assert_eq!(normalize(" bcdf ghjk "), Some("BCDFGHJK".into()));
        assert_eq!(normalize("BCDF-GHJA"), None, "vowels are not in the alphabet");
        assert_eq!(normalize("BCDF-GHJ"), None);
        assert_eq!(normalize("BCDF-GHJKL"), None);
        assert_eq!(normalize("BCDF-GHJ1"), None);
    }

    #[test]
    fn the_user_code_space_has_the_entropy_rfc8628_asks_for() {
        // §6.1: 20^8 ≈ 2^34.5 codes.
        assert!((ALPHABET.len() as f64).powi(LEN as i32).log2() > 34.0);
        assert_eq!(new_device_code().len(), 43, "256 bits, base64url");
    }
}
