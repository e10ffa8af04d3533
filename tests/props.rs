//! Property tests ("fuzzing" in-tree) over the pure parsing and checking functions that see
//! untrusted input: the token-request form, Basic client credentials, redirect URIs, JWT
//! assertions (claims and signatures), scopes and PKCE.
//!
//! `cargo test --test props` runs 256 cases per property (a few seconds). A longer run:
//!
//! ```sh
//! PROPTEST_CASES=100000 cargo test --release --test props
//! ```
//!
//! Failures are not persisted to a regressions file: proptest prints the shrunk input, and a
//! case worth keeping is pinned below as an ordinary `#[test]`.

use std::sync::OnceLock;

use axum::http::{header, HeaderMap, HeaderValue};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Map, Value};

use oauthd::jwt::assertion::{self, ClaimRules};
use oauthd::jwt::keys::{self, Alg, SigningKey};
use oauthd::oauth::form::{basic_credentials, parse_form, MAX_PARAMS};
use oauthd::oauth::TokenError;
use oauthd::oauth::{pkce, redirect_uri, scope};

// ------------------------------------------------------------------------------------ config

/// Any text without NUL, which no form parameter may hold.
const TEXT: &str = "(?s)[^\x00]{0,24}";

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(256)
}

fn config() -> ProptestConfig {
    ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(cases()) }
}

// ------------------------------------------------------------------------------------ helpers

/// `application/x-www-form-urlencoded` serialization of the pairs, in order (repeats allowed).
fn urlencode_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Every byte as `%XX`: a different spelling of the same decoded string.
fn percent_every_byte(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

fn authorization(value: HeaderValue) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::AUTHORIZATION, value);
    h
}

/// Bytes that `HeaderValue::from_bytes` accepts: HTAB, visible ASCII, space, obs-text.
fn header_value_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop_oneof![Just(b'\t'), 0x20u8..=0x7e, 0x80u8..=0xff], 0..max)
}

/// Mixed-case spelling of an ASCII word, one flag per byte.
fn with_case(word: &str, upper: &[bool]) -> String {
    word.chars()
        .zip(upper.iter().chain(std::iter::repeat(&false)))
        .map(|(c, &u)| if u { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
        .collect()
}

/// A JSON value of any shape; object keys are often the names the checks look at.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        "(?s).{0,12}".prop_map(Value::String),
        prop::sample::select(vec!["none", "HS256", "ES256", "RS256", "at+jwt", "https://as.example"])
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(json_key(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["alg", "typ", "crit", "kid", "sub", "aud", "exp", "nbf", "iat", "jti", "iss"])
            .prop_map(String::from),
        1 => "(?s).{0,6}",
    ]
}

fn arb_object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(json_key(), arb_json(), 0..8).prop_map(|m| m.into_iter().collect())
}

/// Any JSON value that is not a number.
fn non_number() -> impl Strategy<Value = Value> {
    arb_json().prop_filter("not a number", |v| !v.is_number())
}

const AUD: [&str; 2] = ["https://as.example", "https://as.example/token"];
const NOW: i64 = 1_750_000_000;

fn rules(skew: i64, max_age: i64, require_jti: bool) -> ClaimRules<'static> {
    ClaimRules { audiences: AUD, now: NOW, skew, max_age, require_jti }
}

/// Times an issuer could plausibly send: around now, or anywhere within ±10^12 s.
fn realistic_time() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-200_000i64..200_000).prop_map(|d| Value::from(NOW + d)),
        (-1_000_000_000_000i64..1_000_000_000_000).prop_map(Value::from),
        (-1.0e12f64..1.0e12).prop_map(Value::from),
    ]
}

/// Any JSON number at all, including the extremes of i64, u64 and f64.
fn any_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        realistic_time(),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        Just(Value::from(i64::MAX)),
        Just(Value::from(i64::MIN)),
    ]
}

/// Claims with a valid `sub` and `aud` (so the time checks are reached) and the given times.
fn claims_with_times(time: BoxedStrategy<Value>) -> impl Strategy<Value = Value> {
    let opt = |t: BoxedStrategy<Value>| prop_oneof![1 => Just(None), 3 => t.prop_map(Some)];
    (
        prop_oneof![Just(json!(AUD[0])), Just(json!(AUD[1])), Just(json!(["x", AUD[0]]))],
        opt(time.clone()),
        opt(time.clone()),
        opt(time),
        prop::option::of("[a-z0-9]{0,8}"),
    )
        .prop_map(|(aud, exp, nbf, iat, jti)| {
            let mut c = json!({ "sub": "subject-1", "aud": aud });
            for (k, v) in [("exp", exp), ("nbf", nbf), ("iat", iat)] {
                if let Some(v) = v {
                    c[k] = v;
                }
            }
            if let Some(j) = jti {
                c["jti"] = json!(j);
            }
            c
        })
}

/// The integer `check_claims` derives from a JSON number.
fn secs(v: &Value) -> Option<i64> {
    v.as_f64().map(|f| f as i64)
}

/// The acceptance rule for claims from `claims_with_times` (valid `sub` and `aud`), written out
/// in wide arithmetic, which cannot overflow.
fn lifetime_ok(c: &Value, r: &ClaimRules<'_>) -> bool {
    let jti_ok = match &c["jti"] {
        Value::Null => !r.require_jti,
        Value::String(s) => !s.is_empty(),
        _ => false,
    };
    if !jti_ok {
        return false;
    }
    let (now, skew, max_age) = (r.now as i128, r.skew as i128, r.max_age as i128);
    let Some(exp) = secs(&c["exp"]).map(i128::from) else { return false };
    let start = secs(&c["iat"]).map(i128::from).unwrap_or(now);
    let nbf_ok = secs(&c["nbf"]).is_none_or(|nbf| nbf as i128 - skew <= now);
    exp + skew > now && nbf_ok && start - skew <= now && exp - start <= max_age && now - start <= max_age
}

/// Reference glob: `*` matches any run of bytes, everything else itself.
fn glob_ref(p: &[u8], s: &[u8]) -> bool {
    let mut dp = vec![vec![false; s.len() + 1]; p.len() + 1];
    dp[0][0] = true;
    for i in 1..=p.len() {
        dp[i][0] = p[i - 1] == b'*' && dp[i - 1][0];
        for j in 1..=s.len() {
            dp[i][j] =
                if p[i - 1] == b'*' { dp[i - 1][j] || dp[i][j - 1] } else { p[i - 1] == s[j - 1] && dp[i - 1][j - 1] };
        }
    }
    dp[p.len()][s.len()]
}

/// An https redirect URI in canonical form: lowercase host, a path of plain segments.
fn https_uri() -> impl Strategy<Value = String> {
    (
        "[a-z]([a-z0-9-]{0,9}[a-z0-9])?(\\.[a-z][a-z0-9]{0,8}){1,2}"
            .prop_filter("no IDNA (punycode) labels", |h: &String| !h.starts_with("xn--")),
        prop::option::of(1u16..=65535).prop_filter("not the default port", |p| *p != Some(443)),
        "(/[a-zA-Z0-9_~-][a-zA-Z0-9._~-]{0,9}){0,3}",
    )
        .prop_map(|(host, port, path)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let path = if path.is_empty() { "/".to_string() } else { path };
            format!("https://{host}{port}{path}")
        })
}

/// A path that URL parsing leaves as it is (no `.` or `..` segments).
fn plain_path() -> impl Strategy<Value = String> {
    prop_oneof![Just("/cb".to_string()), "(/[a-zA-Z0-9_~-][a-zA-Z0-9._~-]{0,9}){1,3}/?"]
}

#[derive(Debug, Clone)]
enum Mutation {
    Upper(Index),
    AppendSlash,
    AppendQuery,
    AppendFragment,
    UserinfoEvil,
    Insert(Index, String),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<Index>().prop_map(Mutation::Upper),
        Just(Mutation::AppendSlash),
        Just(Mutation::AppendQuery),
        Just(Mutation::AppendFragment),
        Just(Mutation::UserinfoEvil),
        (any::<Index>(), prop_oneof![Just("@evil".to_string()), Just("@evil.example".to_string()), "(?s).{1,4}"])
            .prop_map(|(i, s)| Mutation::Insert(i, s)),
        any::<Index>().prop_map(Mutation::Truncate),
    ]
}

/// Applies the mutation; `None` when it would not change the string (nothing to uppercase).
fn mutate(uri: &str, m: &Mutation) -> Option<String> {
    let boundaries: Vec<usize> = (0..=uri.len()).filter(|&i| uri.is_char_boundary(i)).collect();
    Some(match m {
        Mutation::Upper(i) => {
            let lower: Vec<usize> =
                uri.bytes().enumerate().filter(|(_, b)| b.is_ascii_lowercase()).map(|(i, _)| i).collect();
            if lower.is_empty() {
                return None;
            }
            let at = *i.get(&lower);
            let mut b = uri.as_bytes().to_vec();
            b[at] = b[at].to_ascii_uppercase();
            String::from_utf8(b).unwrap()
        }
        Mutation::AppendSlash => format!("{uri}/"),
        Mutation::AppendQuery => format!("{uri}?x"),
        Mutation::AppendFragment => format!("{uri}#f"),
        Mutation::UserinfoEvil => {
            // https://host/cb -> https://host@evil.example/cb
            let (scheme, rest) = uri.split_once("://")?;
            let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            format!("{scheme}://{host}@evil.example{path}")
        }
        Mutation::Insert(i, s) => {
            let at = *i.get(&boundaries);
            format!("{}{s}{}", &uri[..at], &uri[at..])
        }
        Mutation::Truncate(i) => {
            let at = *i.get(&boundaries[..boundaries.len() - 1]);
            uri[..at].to_string()
        }
    })
}

fn scope_token() -> impl Strategy<Value = String> {
    // RFC 6749 §3.3: %x21 / %x23-5B / %x5D-7E
    "[!#-\\[\\]-~]{1,10}"
}

fn is_verifier_ref(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes().all(|b| matches!(b, b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~'))
}

// ------------------------------------------------------------------------------ form parsing

proptest! {
    #![proptest_config(config())]

    #[test]
    fn parse_form_never_panics_on_arbitrary_bytes(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..512),
            "[a-c=&%+0-9A-F\u{e9}]{0,200}".prop_map(String::into_bytes),
        ]
    ) {
        let _ = parse_form(&body);
    }

    #[test]
    fn a_form_of_distinct_pairs_round_trips_through_parse_form(
        pairs in prop::collection::btree_map(TEXT, TEXT, 0..=MAX_PARAMS),
        absent in TEXT,
    ) {
        let body = urlencode_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let form = parse_form(body.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e}: {body:?}")))?;
        for (k, v) in &pairs {
            let expected = if v.is_empty() { None } else { Some(v.as_str()) };
            prop_assert_eq!(form.get(k), expected, "key {:?} in {:?}", k, body);
        }
        if !pairs.contains_key(&absent) {
            prop_assert_eq!(form.get(&absent), None);
        }
    }

    #[test]
    fn a_nul_anywhere_in_a_form_is_rejected(
        pairs in prop::collection::btree_map(TEXT, TEXT, 1..MAX_PARAMS),
        which in any::<Index>(),
        in_key in any::<bool>(),
        at in any::<Index>(),
    ) {
        let mut pairs: Vec<(String, String)> = pairs.into_iter().collect();
        let i = which.index(pairs.len());
        let target = if in_key { &mut pairs[i].0 } else { &mut pairs[i].1 };
        let cuts: Vec<usize> = (0..=target.len()).filter(|&i| target.is_char_boundary(i)).collect();
        target.insert(cuts[at.index(cuts.len())], '\0');
        let body = urlencode_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        match parse_form(body.as_bytes()) {
            Err(TokenError::InvalidRequest(d)) => prop_assert!(d.contains("NUL"), "{}", d),
            other => prop_assert!(false, "{:?} accepted: {:?}", body, other),
        }
    }

    #[test]
    fn a_repeated_key_is_rejected_however_it_is_spelled(
        pairs in prop::collection::btree_map(TEXT, TEXT, 1..MAX_PARAMS),
        which in any::<Index>(),
        at in any::<Index>(),
        value in TEXT,
        spell_every_byte in any::<bool>(),
    ) {
        let mut parts: Vec<String> =
            pairs.iter().map(|(k, v)| urlencode_pairs([(k.as_str(), v.as_str())])).collect();
        let key = pairs.keys().nth(which.index(pairs.len())).unwrap();
        let key = if spell_every_byte { percent_every_byte(key) } else { urlencode(key) };
        parts.insert(at.index(parts.len() + 1), format!("{key}={}", urlencode(&value)));
        let body = parts.join("&");
        match parse_form(body.as_bytes()) {
            Err(TokenError::InvalidRequest(d)) => prop_assert!(d.contains("repeated"), "{}", d),
            // RFC 8707: a repeated `resource` asks for a token with several audiences.
            Err(TokenError::InvalidTarget(d)) => prop_assert!(d.contains("one resource"), "{}", d),
            other => prop_assert!(false, "{:?} accepted: {:?}", body, other),
        }
    }

    #[test]
    fn more_than_64_parameters_are_rejected(
        values in prop::collection::vec("[a-z0-9+]{0,4}(%2[0-9A-F])?", MAX_PARAMS + 1..200),
    ) {
        let body = values.iter().enumerate().map(|(i, v)| format!("k{i}={v}")).collect::<Vec<_>>().join("&");
        match parse_form(body.as_bytes()) {
            Err(TokenError::InvalidRequest(d)) => prop_assert!(d.contains("too many"), "{}", d),
            other => prop_assert!(false, "{} parameters accepted: {:?}", values.len(), other),
        }
    }

    #[test]
    fn exactly_64_distinct_parameters_are_accepted(
        values in prop::collection::vec("[a-z0-9]{1,6}", MAX_PARAMS),
        empties in prop::collection::vec("&{0,2}", MAX_PARAMS),
    ) {
        // Empty pairs (`&&`) are not parameters.
        let body: String =
            values.iter().zip(&empties).enumerate().map(|(i, (v, e))| format!("k{i}={v}&{e}")).collect();
        let form = parse_form(body.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (i, v) in values.iter().enumerate() {
            prop_assert_eq!(form.get(&format!("k{i}")), Some(v.as_str()));
        }
    }
}

// ----------------------------------------------------------------------- Basic credentials

proptest! {
    #![proptest_config(config())]

    #[test]
    fn basic_credentials_never_panics_on_any_header_value(
        value in prop_oneof![
            header_value_bytes(256),
            prop::collection::vec(any::<u8>(), 0..128)
                .prop_map(|b| format!("Basic {}", STANDARD.encode(b)).into_bytes()),
            (header_value_bytes(64), header_value_bytes(64))
                .prop_map(|(a, b)| [b"Basic ".as_slice(), &a, b":", &b].concat()),
            ("(?s).{0,20}", "(?s).{0,20}")
                .prop_map(|(a, b)| format!("basic   {} ", STANDARD.encode(format!("{a}:{b}"))).into_bytes()),
        ]
    ) {
        let value = HeaderValue::from_bytes(&value).expect("generated bytes are a valid header value");
        let _ = basic_credentials(&authorization(value));
    }

    #[test]
    fn basic_credentials_round_trip_urlencoded_ids_and_secrets(
        id in "(?s)[^\x00]{1,32}",
        secret in "(?s)[^\x00]{0,48}",
        scheme_case in prop::collection::vec(any::<bool>(), 5),
    ) {
        let raw = format!("{}:{}", urlencode(&id), urlencode(&secret));
        let value = format!("{} {}", with_case("basic", &scheme_case), STANDARD.encode(raw));
        let got = basic_credentials(&authorization(HeaderValue::from_str(&value).unwrap()))
            .map_err(|e| TestCaseError::fail(format!("{e}: {value}")))?;
        prop_assert_eq!(got, Some((id, secret)));
    }

    #[test]
    fn basic_credentials_with_a_nul_are_invalid_client(
        id in "(?s)[^\x00]{0,8}\x00(?s)[^\x00]{0,8}",
        secret in "(?s).{0,16}",
        encode in any::<bool>(),
    ) {
        let raw = if encode { format!("{}:{}", urlencode(&id), urlencode(&secret)) } else { format!("{id}:{secret}") };
        let value = format!("Basic {}", STANDARD.encode(raw));
        let got = basic_credentials(&authorization(HeaderValue::from_str(&value).unwrap()));
        prop_assert!(matches!(got, Err(TokenError::InvalidClient(_))), "{:?}", got);
    }

    #[test]
    fn basic_credentials_with_an_empty_id_are_refused(secret in "(?s).{0,48}") {
        let value = format!("Basic {}", STANDARD.encode(format!(":{}", urlencode(&secret))));
        prop_assert!(basic_credentials(&authorization(HeaderValue::from_str(&value).unwrap())).is_err());
    }
}

#[test]
fn basic_credentials_are_absent_without_an_authorization_header() {
    assert!(matches!(basic_credentials(&HeaderMap::new()), Ok(None)));
}

// ----------------------------------------------------------------------------- redirect URIs

proptest! {
    #![proptest_config(config())]

    #[test]
    fn redirect_uri_checks_never_panic(
        registered in prop::collection::vec(
            prop_oneof!["(?s).{0,40}", "(https?|[a-z.]{1,8}):(//)?[a-zA-Z0-9.:@\\[\\]/?#%_~-]{0,40}"], 0..4),
        given in prop_oneof![
            "(?s).{0,40}",
            "(https?|[a-z.]{1,8}):(//)?[a-zA-Z0-9.:@\\[\\]/?#%_~-]{0,40}",
            "http://(127\\.0\\.0\\.1|\\[::1\\]|localhost)(:[0-9]{0,6})?[/a-z.%]{0,12}",
        ],
    ) {
        let _ = redirect_uri::validate(&given);
        let _ = redirect_uri::matches(registered.iter().map(String::as_str), &given);
    }

    #[test]
    fn a_registered_https_uri_matches_itself_and_is_valid(uri in https_uri()) {
        prop_assert!(redirect_uri::validate(&uri).is_ok(), "{}", uri);
        prop_assert!(redirect_uri::matches([uri.as_str()], &uri));
    }

    #[test]
    fn a_mutated_https_uri_never_matches(uri in https_uri(), m in mutation()) {
        if let Some(given) = mutate(&uri, &m) {
            prop_assert_eq!(redirect_uri::matches([uri.as_str()], &given), given == uri, "{} vs {}", uri, given);
        }
    }

    #[test]
    fn an_https_uri_matches_only_the_identical_string(
        uri in https_uri(),
        given in prop_oneof!["(?s).{0,40}", https_uri()],
    ) {
        prop_assert_eq!(redirect_uri::matches([uri.as_str()], &given), given == uri);
    }

    #[test]
    fn a_loopback_ip_redirect_matches_with_any_port_other_than_80(
        host in prop::sample::select(vec!["127.0.0.1", "[::1]"]),
        path in plain_path(),
        registered_port in prop::option::of(1u16..=65535).prop_filter("canonical", |p| *p != Some(80)),
        port in (1u16..=65535).prop_filter("see the port 80 test below", |p| *p != 80),
    ) {
        let rp = registered_port.map(|p| format!(":{p}")).unwrap_or_default();
        let registered = format!("http://{host}{rp}{path}");
        let given = format!("http://{host}:{port}{path}");
        prop_assert!(redirect_uri::validate(&registered).is_ok());
        prop_assert!(redirect_uri::matches([registered.as_str()], &given), "{} vs {}", registered, given);
        // ...but only the port is free: the path must be identical.
        let longer = format!("{given}x");
        let by_name = format!("http://localhost:{port}{path}");
        prop_assert!(!redirect_uri::matches([registered.as_str()], &longer), "{}", longer);
        prop_assert!(!redirect_uri::matches([registered.as_str()], &by_name), "{}", by_name);
    }
}

#[test]
fn a_loopback_ip_redirect_matches_with_port_80() {
    assert!(redirect_uri::matches(["http://127.0.0.1/cb"], "http://127.0.0.1:80/cb"));
    assert!(redirect_uri::matches(["http://[::1]:8080/cb"], "http://[::1]:80/cb"));
}

// --------------------------------------------------------------------------- JWT assertions

proptest! {
    #![proptest_config(config())]

    #[test]
    fn assertion_parse_never_panics_on_arbitrary_strings(
        token in prop_oneof![
            "(?s).{0,200}",
            "[A-Za-z0-9_.=+/-]{0,200}",
            (prop::collection::vec(any::<u8>(), 0..64), prop::collection::vec(any::<u8>(), 0..64), "[A-Za-z0-9_-]{0,8}")
                .prop_map(|(h, c, s)| format!("{}.{}.{s}", URL_SAFE_NO_PAD.encode(h), URL_SAFE_NO_PAD.encode(c))),
        ]
    ) {
        if let Ok(p) = assertion::parse(&token) {
            prop_assert!(p.header.is_object() && p.claims.is_object());
        }
    }

    #[test]
    fn a_parsed_assertion_returns_its_header_and_claims(
        header in arb_object(), claims in arb_object(), sig in "[A-Za-z0-9_-]{0,86}",
    ) {
        let (h, c) = (serde_json::to_vec(&header).unwrap(), serde_json::to_vec(&claims).unwrap());
        let token = format!("{}.{}.{sig}", URL_SAFE_NO_PAD.encode(&h), URL_SAFE_NO_PAD.encode(&c));
        match assertion::parse(&token) {
            Ok(p) => {
                prop_assert!(!sig.is_empty());
                // Compared with serde_json's own reading of the same bytes: its float parsing
                // is not exactly round-trip, which is not what this property is about.
                prop_assert_eq!(p.header, serde_json::from_slice::<Value>(&h).unwrap());
                prop_assert_eq!(p.claims, serde_json::from_slice::<Value>(&c).unwrap());
            }
            // serde_json writes NUL as \u0000, which `parse` refuses wherever it is.
            Err(e) => prop_assert!(
                sig.is_empty()
                    || token.len() > assertion::MAX_ASSERTION_BYTES
                    || (e.contains("NUL") && [&h, &c].iter().any(|j| String::from_utf8_lossy(j).contains("\\u0000"))),
                "{}",
                e
            ),
        }
    }

    #[test]
    fn assertion_checks_never_panic_on_arbitrary_json(
        header in arb_json(),
        claims in prop_oneof![arb_json(), arb_object().prop_map(Value::Object)],
        skew in 0i64..600,
        max_age in 0i64..100_000,
        require_jti in any::<bool>(),
    ) {
        let _ = assertion::check_header(&header);
        let _ = assertion::check_claims(&claims, &rules(skew, max_age, require_jti));
    }

    #[test]
    fn check_claims_never_panics_on_realistic_times(
        claims in claims_with_times(realistic_time().boxed()),
        skew in 0i64..600,
        max_age in 1i64..100_000,
    ) {
        let _ = assertion::check_claims(&claims, &rules(skew, max_age, false));
    }

    #[test]
    fn check_claims_accepts_exactly_the_live_assertions_within_max_age_for_realistic_times(
        claims in claims_with_times(realistic_time().boxed()),
        skew in 0i64..600,
        max_age in 1i64..100_000,
        require_jti in any::<bool>(),
    ) {
        let r = rules(skew, max_age, require_jti);
        let got = assertion::check_claims(&claims, &r);
        prop_assert_eq!(got.is_ok(), lifetime_ok(&claims, &r), "{} -> {:?}", claims, got);
    }

    #[test]
    fn alg_none_and_hmac_are_refused_by_check_header(
        extra in arb_object(),
        alg in prop_oneof![
            prop::collection::vec(any::<bool>(), 4).prop_map(|c| with_case("none", &c)),
            "HS(?s).{0,6}",
        ],
    ) {
        let mut h = extra;
        h.insert("alg".into(), json!(alg));
        prop_assert!(assertion::check_header(&Value::Object(h.clone())).is_err(), "{:?}", h);
        // The same header, as it comes out of a parsed assertion.
        let token = format!("{}.{}.sig", URL_SAFE_NO_PAD.encode(serde_json::to_vec(&h).unwrap()), URL_SAFE_NO_PAD.encode(b"{}"));
        match assertion::parse(&token) {
            Ok(parsed) => prop_assert!(assertion::check_header(&parsed.header).is_err()),
            Err(e) => prop_assert!(e.contains("NUL"), "{}", e),
        }
    }

    #[test]
    fn check_claims_refuses_an_exp_that_is_not_a_number(
        exp in prop_oneof![
            "(?s).{0,12}".prop_map(Value::from),
            (NOW - 1000..NOW + 1000).prop_map(|t| Value::from(t.to_string())),
            any::<bool>().prop_map(Value::from),
            Just(Value::Null),
            prop::collection::vec(realistic_time(), 0..3).prop_map(Value::Array),
            non_number(),
        ],
        jti in "[a-z0-9]{1,8}",
    ) {
        let r = rules(60, 3600, true);
        let mut c = json!({ "sub": "s", "aud": AUD[0], "iat": NOW, "jti": jti, "exp": NOW + 300 });
        prop_assert!(assertion::check_claims(&c, &r).is_ok(), "control claims must pass");
        c["exp"] = exp;
        prop_assert!(assertion::check_claims(&c, &r).is_err(), "{}", c);
    }

    #[test]
    fn subject_allowed_never_panics(policy in "(?s).{0,30}", sub in "(?s).{0,30}") {
        let _ = assertion::subject_allowed(&policy, &sub);
    }

    #[test]
    fn subject_allowed_agrees_with_a_reference_glob(
        policy in "[ab* ]{0,12}|any|[a*]{0,4} any",
        sub in "[ab]{0,10}",
    ) {
        let expected = policy
            .split(' ')
            .filter(|p| !p.is_empty())
            .any(|p| p == "any" || glob_ref(p.as_bytes(), sub.as_bytes()));
        prop_assert_eq!(assertion::subject_allowed(&policy, &sub), expected, "{:?} {:?}", policy, sub);
    }

    #[test]
    fn a_literal_subject_policy_matches_only_that_subject(
        literal in "[^* ]{1,16}", sub in "(?s).{0,16}",
    ) {
        prop_assume!(literal != "any");
        prop_assert!(assertion::subject_allowed(&literal, &literal));
        prop_assert_eq!(assertion::subject_allowed(&literal, &sub), sub == literal);
    }
}

// Extreme times: values cast from f64 saturate at i64::MIN / i64::MAX, and the time arithmetic
// must neither overflow (a panic in debug builds) nor wrap (in release, a wrapped age would let
// a far-past `iat` defeat the max_age check). These once found such a bug.

proptest! {
    #![proptest_config(config())]

    #[test]
    fn check_claims_never_panics_and_never_exceeds_max_age_for_any_number(
        claims in claims_with_times(any_number().boxed()),
        skew in 0i64..600,
        max_age in 1i64..100_000,
        require_jti in any::<bool>(),
    ) {
        let r = rules(skew, max_age, require_jti);
        let got = assertion::check_claims(&claims, &r);
        prop_assert_eq!(got.is_ok(), lifetime_ok(&claims, &r), "{} -> {:?}", claims, got);
    }
}

#[test]
fn check_claims_does_not_panic_on_the_largest_exp() {
    let c = json!({ "sub": "s", "aud": AUD[0], "exp": i64::MAX });
    assert!(assertion::check_claims(&c, &rules(1, 3600, false)).is_err());
}

#[test]
fn check_claims_refuses_a_far_past_iat_with_a_far_future_exp() {
    // -9223372036854774784 is the f64 closest to i64::MIN from above: `iat - skew` does not
    // overflow, so the iat check passes and the age arithmetic is reached.
    let c = json!({ "sub": "s", "aud": AUD[0], "iat": -9_223_372_036_854_774_784i64, "exp": NOW + 10 * 365 * 86_400 });
    assert!(assertion::check_claims(&c, &rules(60, 3600, false)).is_err());
}

// ------------------------------------------------------------------------ assertion signatures

/// A fixed key set of three keys (ES256, RS256, EdDSA), with their private halves.
struct Keys {
    set: JwkSet,
    signers: Vec<SigningKey>,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let records: Vec<_> = [Alg::ES256, Alg::RS256, Alg::EdDSA].map(|a| keys::generate(a, 0).unwrap()).into();
        let set = JwkSet { keys: records.iter().map(|r| serde_json::from_str(&r.public_jwk).unwrap()).collect() };
        let signers = records.iter().map(|r| SigningKey::from_record(r, None).unwrap()).collect();
        Keys { set, signers }
    })
}

/// Which key a header's `kid` names: one of the set's (by index), an unknown one, a non-string,
/// or none at all.
#[derive(Debug, Clone)]
enum Kid {
    Known(usize),
    Unknown(String),
    NotAString(Value),
    Absent,
}

fn kid() -> impl Strategy<Value = Kid> {
    prop_oneof![
        4 => (0usize..3).prop_map(Kid::Known),
        1 => "[A-Za-z0-9_-]{0,50}".prop_map(Kid::Unknown),
        1 => arb_json().prop_filter("not a string", |v| !v.is_string() && !v.is_null()).prop_map(Kid::NotAString),
        1 => Just(Kid::Absent),
    ]
}

/// The header's `alg`: the own alg of the key the kid names (key 0 when it names none), any
/// other name or JSON value, or none at all.
#[derive(Debug, Clone)]
enum HeaderAlg {
    OfKidKey,
    Other(Value),
    Absent,
}

fn header_alg() -> impl Strategy<Value = HeaderAlg> {
    prop_oneof![
        4 => Just(HeaderAlg::OfKidKey),
        3 => prop::sample::select(vec!["ES256", "RS256", "EdDSA", "PS256", "ES384", "RS512", "HS256", "none", "es256"])
            .prop_map(|a| HeaderAlg::Other(json!(a))),
        1 => "[A-Za-z0-9]{0,8}".prop_map(|a| HeaderAlg::Other(json!(a))),
        1 => arb_json().prop_map(HeaderAlg::Other),
        1 => Just(HeaderAlg::Absent),
    ]
}

/// A signature over the real signing input by the key the kid names (key 0 when it names
/// none), by any key of the set, or junk.
#[derive(Debug, Clone)]
enum Sig {
    ByKidKey,
    By(usize),
    Junk(Vec<u8>),
    NotBase64(String),
}

fn sig() -> impl Strategy<Value = Sig> {
    prop_oneof![
        3 => Just(Sig::ByKidKey),
        2 => (0usize..3).prop_map(Sig::By),
        2 => prop::collection::vec(any::<u8>(), 0..300).prop_map(Sig::Junk),
        1 => "(?s).{0,40}".prop_map(Sig::NotBase64),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn verify_signature_accepts_only_a_valid_signature_by_the_kid_key_under_that_keys_alg(
        kid in kid(),
        alg in header_alg(),
        sig in sig(),
        sub in "[a-z0-9]{0,12}",
        typ in prop::option::of(prop::sample::select(vec!["JWT", "at+jwt", "x"])),
    ) {
        let k = keys();
        let kid_key = match kid { Kid::Known(i) => i, _ => 0 };
        let mut header = json!({});
        match &alg {
            HeaderAlg::OfKidKey => header["alg"] = json!(k.signers[kid_key].alg.as_str()),
            HeaderAlg::Other(v) => header["alg"] = v.clone(),
            HeaderAlg::Absent => {}
        }
        match &kid {
            Kid::Known(i) => header["kid"] = k.set.keys[*i].common.key_id.clone().into(),
            Kid::Unknown(s) => header["kid"] = json!(s),
            Kid::NotAString(v) => header["kid"] = v.clone(),
            Kid::Absent => {}
        }
        if let Some(t) = typ {
            header["typ"] = json!(t);
        }
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(json!({ "sub": sub, "iss": "https://idp.example" }).to_string()),
        );
        let signer = match sig { Sig::ByKidKey => Some(kid_key), Sig::By(i) => Some(i), _ => None };
        let token = match (&sig, signer) {
            (_, Some(i)) => k.signers[i].sign_compact(input).map_err(|e| TestCaseError::fail(e.to_string()))?,
            (Sig::Junk(b), _) => format!("{input}.{}", URL_SAFE_NO_PAD.encode(b)),
            (Sig::NotBase64(s), _) => format!("{input}.{s}"),
            _ => unreachable!(),
        };
        let got = assertion::verify_signature(&token, &header, &k.set);
        // Accepted exactly when the kid names key i, the header's alg is key i's own alg, and
        // key i made the signature.
        let expected = match kid {
            Kid::Known(i) => signer == Some(i) && header["alg"] == json!(k.signers[i].alg.as_str()),
            _ => false,
        };
        prop_assert_eq!(got.is_ok(), expected, "{} {:?} -> {:?}", header, sig, got);
    }
}

// ------------------------------------------------------------------------------ scope, PKCE

proptest! {
    #![proptest_config(config())]

    #[test]
    fn scope_parse_never_panics_and_yields_distinct_valid_tokens(s in "(?s).{0,60}|[a-z \"\\\\]{0,30}") {
        if let Ok(tokens) = scope::parse(&s) {
            for (i, t) in tokens.iter().enumerate() {
                prop_assert!(scope::is_valid_token(t), "{:?}", t);
                prop_assert!(!tokens[..i].contains(t), "duplicate {:?}", t);
            }
        }
    }

    #[test]
    fn narrow_never_grants_a_scope_outside_allowed(
        allowed in prop::collection::vec(scope_token(), 0..6),
        picks in prop::collection::vec(any::<Index>(), 0..6),
        extra in prop::collection::vec(prop_oneof![scope_token(), "(?s).{1,8}"], 0..3),
        spaces in prop::collection::vec(" {1,3}", 0..12),
        requested_at_all in any::<bool>(),
    ) {
        let allowed_refs: Vec<&str> = allowed.iter().map(String::as_str).collect();
        let mut words: Vec<String> = Vec::new();
        if !allowed.is_empty() {
            words.extend(picks.iter().map(|i| i.get(&allowed).clone()));
        }
        words.extend(extra);
        let requested: String = words
            .iter()
            .zip(spaces.iter().chain(std::iter::repeat(&" ".to_string())))
            .map(|(w, s)| format!("{w}{s}"))
            .collect();
        let requested = requested_at_all.then_some(requested.as_str());
        if let Ok(granted) = scope::narrow(requested, &allowed_refs) {
            for t in granted.split(' ').filter(|t| !t.is_empty()) {
                prop_assert!(allowed_refs.contains(&t), "{:?} granted {:?} outside {:?}", requested, t, allowed_refs);
            }
        }
    }

    #[test]
    fn narrow_grants_any_subset_of_allowed(
        allowed in prop::collection::btree_set(scope_token(), 1..6),
        picks in prop::collection::vec(any::<Index>(), 0..6),
    ) {
        let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
        let req: Vec<&str> = picks.iter().map(|i| *i.get(&allowed)).collect();
        let granted = scope::narrow(Some(&req.join(" ")), &allowed).map_err(TestCaseError::fail)?;
        let mut want: Vec<&str> = Vec::new();
        for t in req {
            if !want.contains(&t) {
                want.push(t);
            }
        }
        prop_assert_eq!(granted, want.join(" "));
    }

    #[test]
    fn pkce_verifier_validation_follows_rfc7636(v in "(?s).{0,140}|[A-Za-z0-9._~-]{40,130}") {
        prop_assert_eq!(pkce::is_valid_verifier(&v), is_verifier_ref(&v));
    }

    #[test]
    fn a_verifier_verifies_against_its_own_s256_challenge_only(
        v in "[A-Za-z0-9._~-]{43,128}",
        other in "(?s).{0,64}|[A-Za-z0-9_-]{43}",
    ) {
        let c = pkce::s256(&v);
        prop_assert!(pkce::is_valid_challenge(&c));
        prop_assert!(pkce::verify(&v, &c));
        prop_assert_eq!(pkce::verify(&v, &other), other == c);
    }

    #[test]
    fn pkce_verify_never_panics(v in "(?s).{0,200}", c in "(?s).{0,60}") {
        let _ = pkce::verify(&v, &c);
        let _ = pkce::is_valid_challenge(&c);
    }
}
