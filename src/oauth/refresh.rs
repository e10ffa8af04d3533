//! Refresh tokens (RFC 6749 §6) as one row per family: the token format and what a presented
//! token means for its family (rotation with reuse detection, RFC 9700 §4.14.2).
//!
//! A token is `<handle>.<generation>.<secret>`. The handle (128 random bits) names the family
//! and appears in no other place: the store keys the family by its SHA-256, so neither the
//! database nor the logs hold it. The generation counts the tokens issued in the family; the store
//! keeps the SHA-256 of the current secret only, plus that of the token rotated last (for the
//! reuse grace). An older generation presented again is reuse. A token of the earlier format
//! (43 characters, no dots) is the handle alone of a family migrated at generation 0.

use subtle::ConstantTimeEq;

use super::secret;
use crate::store::RefreshFamily;

/// The parts of a presented token; `family_id` and `secret_hash` are what the store compares.
#[derive(Debug, Clone)]
pub struct Presented {
    pub handle: String,
    pub family_id: String,
    pub generation: i64,
    pub secret_hash: String,
}

/// A family about to be started: the handle goes into its tokens, the id into the store.
pub struct NewFamily {
    pub handle: String,
    pub id: String,
}

impl NewFamily {
    pub fn generate() -> NewFamily {
        let handle = secret::random_token(16);
        NewFamily { id: secret::digest(&handle), handle }
    }
}

/// A fresh secret for the next token of a family, and the hash the store keeps.
pub struct Secret {
    pub secret: String,
    pub hash: String,
}

impl Secret {
    pub fn generate() -> Secret {
        let secret = secret::random_token(32);
        Secret { hash: secret::digest(&secret), secret }
    }
}

/// The token of `generation` in the family named by `handle`.
pub fn token(handle: &str, generation: i64, s: &Secret) -> String {
    format!("{handle}.{generation}.{}", s.secret)
}

/// Splits a token into its parts; `None` for anything that cannot be one of ours (no lookup).
pub fn parse(token: &str) -> Option<Presented> {
    let mut parts = token.split('.');
    let (handle, generation, secret) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(g), Some(s), None) if is_digits(g) && g.len() <= 18 && is_b64(s) => (h, g.parse().ok()?, s),
        // The earlier format: the whole token served as the family's only proof.
        (Some(h), None, None, None) => (h, 0, ""),
        _ => return None,
    };
    if !is_b64(handle) {
        return None;
    }
    Some(Presented {
        handle: handle.into(),
        family_id: secret::digest(handle),
        generation,
        secret_hash: secret::digest(secret),
    })
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_b64(s: &str) -> bool {
    (1..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What a presented token is, for the family it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// The family's newest token: it may be rotated.
    Current,
    /// The token rotated last, presented again within the grace: it gets a fresh successor that
    /// supersedes the one issued before, which becomes an older generation.
    Grace,
    /// An older generation: someone kept a token that was rotated away. The family is revoked.
    Reused,
    Revoked,
    Expired,
    /// Names the family but is none of its tokens (a wrong secret, a future generation).
    Forged,
}

/// The standing of `p` in `f` at `now`, with `grace` seconds of reuse grace. Secrets are
/// compared in constant time.
pub fn standing(f: &RefreshFamily, p: &Presented, now: i64, grace: u64) -> Standing {
    let matches = |stored: &str| bool::from(stored.as_bytes().ct_eq(p.secret_hash.as_bytes()));
    if f.revoked_at.is_some() {
        return Standing::Revoked;
    }
    if f.idle_expires_at.min(f.expires_at) <= now {
        return Standing::Expired;
    }
    if p.generation == f.generation {
        return if matches(&f.secret_hash) { Standing::Current } else { Standing::Forged };
    }
    let just_rotated = f.rotated_generation == Some(p.generation) && f.rotated_hash.as_deref().is_some_and(matches);
    let in_grace = f.rotated_at.is_some_and(|at| now.saturating_sub(at) < i64::try_from(grace).unwrap_or(i64::MAX));
    match p.generation < f.generation {
        true if just_rotated && in_grace => Standing::Grace,
        true => Standing::Reused,
        false => Standing::Forged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn family(now: i64) -> (RefreshFamily, String) {
        let new = NewFamily::generate();
        let s = Secret::generate();
        let f = RefreshFamily {
            id: new.id,
            client_id: "c".into(),
            user_id: "u".into(),
            scope: "read".into(),
            audience: "https://api".into(),
            gty: "password".into(),
            auth_time: now,
            created_at: now,
            expires_at: now + 1000,
            idle_expires_at: now + 100,
            generation: 0,
            secret_hash: s.hash.clone(),
            issued_at: now,
            rotated_generation: None,
            rotated_hash: None,
            rotated_at: None,
            access_exp: now + 60,
            revoked_at: None,
            sid: None,
            claims: None,
            dpop_jkt: None,
            resources: String::new(),
        };
        (f, token(&new.handle, 0, &s))
    }

    /// What the store's rotation does: the current token becomes the one rotated last.
    fn rotate(f: &mut RefreshFamily, handle: &str, now: i64) -> String {
        let s = Secret::generate();
        f.rotated_generation = Some(f.generation);
        f.rotated_hash = Some(std::mem::replace(&mut f.secret_hash, s.hash.clone()));
        f.rotated_at = Some(now);
        f.generation += 1;
        token(handle, f.generation, &s)
    }

    #[test]
    fn a_token_round_trips_and_names_its_family_by_hash_only() {
        let (f, t) = family(0);
        let p = parse(&t).unwrap();
        assert_eq!((p.family_id.as_str(), p.generation), (f.id.as_str(), 0));
        assert!(!f.id.contains(&p.handle));
        assert!(t.len() >= 22 + 43, "128-bit handle and 256-bit secret: {t}");
    }

    #[test]
    fn garbage_never_parses() {
        for t in ["", ".", "a.b.c", "a.1.", ".1.x", "a.-1.x", "a.1.x.y", "a b", "a.1.x\0", "ä", &"a".repeat(129)] {
            assert!(parse(t).is_none(), "{t:?}");
        }
        assert!(parse(&format!("a.{}.x", "9".repeat(19))).is_none(), "no overflow");
    }

    #[test]
    fn only_the_just_rotated_token_gets_the_grace_and_only_within_it() {
        let (mut f, first) = family(0);
        let handle = parse(&first).unwrap().handle;
        assert_eq!(standing(&f, &parse(&first).unwrap(), 10, 5), Standing::Current);
        let second = rotate(&mut f, &handle, 10);
        let first = parse(&first).unwrap();
        assert_eq!(standing(&f, &parse(&second).unwrap(), 10, 5), Standing::Current);
        assert_eq!(standing(&f, &first, 14, 5), Standing::Grace);
        assert_eq!(standing(&f, &first, 15, 5), Standing::Reused, "the grace is over");
        assert_eq!(standing(&f, &first, 10, 0), Standing::Reused, "no grace");
        let third = rotate(&mut f, &handle, 11);
        assert_eq!(standing(&f, &first, 11, 5), Standing::Reused, "no longer the token rotated last");
        assert_eq!(standing(&f, &parse(&second).unwrap(), 11, 5), Standing::Grace);
        assert_eq!(standing(&f, &parse(&third).unwrap(), 11, 5), Standing::Current);
    }

    #[test]
    fn a_wrong_secret_or_a_future_generation_is_forged_and_ends_win_over_everything() {
        let (mut f, t) = family(0);
        let p = parse(&t).unwrap();
        let wrong = parse(&token(&p.handle, 0, &Secret::generate())).unwrap();
        assert_eq!(standing(&f, &wrong, 1, 5), Standing::Forged);
        let future = parse(&token(&p.handle, 7, &Secret::generate())).unwrap();
        assert_eq!(standing(&f, &future, 1, 5), Standing::Forged);
        assert_eq!(standing(&f, &p, 100, 5), Standing::Expired, "idle");
        f.revoked_at = Some(1);
        assert_eq!(standing(&f, &p, 1, 5), Standing::Revoked);
    }
}
