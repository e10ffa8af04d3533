//! JSON Merge Patch (RFC 7396) and the strong entity tags (RFC 9110 §8.8.3) that `If-Match`
//! (§13.1.1) compares with, for the admin API's `PATCH`.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::AdminError;

/// RFC 7396 §2 MergePatch(target, patch): objects merge member by member, `null` removes a
/// member, anything else replaces the target whole.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// The strong entity tag of a representation: a digest of its JSON, quoted.
pub fn etag(representation: &Value) -> String {
    let digest = Sha256::digest(representation.to_string().as_bytes());
    format!("\"{}\"", &hex::encode(digest)[..32])
}

/// RFC 9110 §13.1.1: passes when there is no `If-Match`, when it is `*`, or when one of its
/// entity tags is strongly equal to `current` (a weak tag never is).
pub fn check_if_match(if_match: Option<&str>, current: &str) -> Result<(), AdminError> {
    let Some(list) = if_match else { return Ok(()) };
    let list = list.trim();
    if list == "*" || list.split(',').map(str::trim).any(|t| t == current) {
        Ok(())
    } else {
        Err(AdminError::PreconditionFailed)
    }
}

/// After a merge: refuses a change to any member the caller may not change.
pub fn refuse_changes(before: &Value, after: &Value, read_only: &[&str]) -> Result<(), AdminError> {
    match read_only.iter().find(|k| before.get(**k) != after.get(**k)) {
        Some(k) => Err(AdminError::Invalid(format!("{k} cannot be changed"))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_examples_of_rfc_7396_appendix_a_merge_as_the_rfc_says() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (json!({"a":"b","b":"c"}), json!({"a":null}), json!({"b":"c"})),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (json!({"a":{"b":"c"}}), json!({"a":{"b":"d","c":null}}), json!({"a":{"b":"d"}})),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a":"b"}), json!(["c"]), json!(["c"])),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({"a":"foo"}), json!("bar"), json!("bar")),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (json!({}), json!({"a":{"bb":{"ccc":null}}}), json!({"a":{"bb":{}}})),
        ];
        for (mut target, patch, want) in cases {
            merge(&mut target, &patch);
            assert_eq!(target, want, "patch {patch}");
        }
    }

    #[test]
    fn if_match_passes_on_its_tag_or_a_star_and_never_on_a_weak_tag() {
        let tag = etag(&json!({"a": 1}));
        assert!(check_if_match(None, &tag).is_ok());
        assert!(check_if_match(Some("*"), &tag).is_ok());
        assert!(check_if_match(Some(&format!("\"x\", {tag}")), &tag).is_ok());
        assert!(check_if_match(Some(&format!("W/{tag}")), &tag).is_err());
        assert!(check_if_match(Some("\"other\""), &tag).is_err());
        assert_ne!(tag, etag(&json!({"a": 2})));
    }
}
