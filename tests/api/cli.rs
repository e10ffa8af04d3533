//! The `oauthd` binary: configuration errors, `--json` output, provisioning end to end.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::helpers::{fresh_database, json, Backend, TestApp, API};
use crate::on_both_backends;

pub fn oauthd(db: &str, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_oauthd"))
        .args(args)
        .env("OAUTHD_DATABASE_URL", db)
        .env("OAUTHD_ARGON2_MEMORY_KIB", "1024")
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

async fn a_client_made_with_the_cli_gets_a_token(b: Backend) {
    let db = fresh_database(b).await;
    let (ok, _, err) = oauthd(&db, &["api", "create", "--identifier", API, "--scope", "read:x write:x"], None);
    assert!(ok, "{err}");
    let (ok, out, err) = oauthd(
        &db,
        &[
            "client",
            "create",
            "--name",
            "svc",
            "--grant",
            "client_credentials",
            "--api",
            API,
            "--scope",
            "read:x",
            "--json",
        ],
        None,
    );
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(out.trim()).expect("one JSON object on stdout");
    let (id, secret) = (v["client_id"].as_str().unwrap(), v["client_secret"].as_str().unwrap());
    assert!(secret.len() >= 43);

    let (ok, out, _) =
        oauthd(&db, &["user", "create", "--username", "ivy", "--password-stdin", "--json"], Some("ivy-pw\n"));
    assert!(ok);
    let user: Value = serde_json::from_str(out.trim()).unwrap();
    assert!(user["user_id"].as_str().unwrap().starts_with("local|"));

    let t = TestApp::spawn_on(db, |_| {}).await;
    let (s, _, body) =
        json(t.post_token_basic(id, secret, &[("grant_type", "client_credentials"), ("audience", API)]).await).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["scope"], "read:x");

    let (ok, out, _) = oauthd(&t.app.settings.database_url, &["client", "show", id], None);
    assert!(ok && !out.contains(secret), "the secret is shown once only");
}

async fn bad_configuration_names_the_key_and_never_panics(b: Backend) {
    let db = fresh_database(b).await;
    for (var, value, key) in [
        ("OAUTHD_ACCESS_TOKEN_TTL", "soon", "access_token_ttl"),
        ("OAUTHD_BIND", "not an address", "bind"),
        ("OAUTHD_SIGNING_ALG", "HS256", "signing_alg"),
        ("OAUTHD_ISSUER", "https://example.com/", "issuer"),
        // Lifetimes are capped, so `now + ttl` can never overflow.
        ("OAUTHD_ACCESS_TOKEN_TTL", "9223372036854775807", "access_token_ttl"),
        ("OAUTHD_ID_TOKEN_TTL", "86401", "id_token_ttl"),
        ("OAUTHD_REFRESH_TOKEN_TTL", "0", "refresh_token_ttl"),
        ("OAUTHD_SESSION_TTL", "99999999999", "session_ttl"),
        ("OAUTHD_DB_TIMEOUT_MS", "600000", "db_timeout_ms"),
        ("OAUTHD_REQUEST_TIMEOUT", "0", "request_timeout"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_oauthd"))
            .args(["migrate"])
            .env("OAUTHD_DATABASE_URL", &db)
            .env(var, value)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{var}");
        assert!(err.contains(key), "{var}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let dir = std::env::temp_dir().join(format!("oauthd-cfg-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, "access_token_ttl = \"x\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_oauthd"))
        .args(["--config", file.to_str().unwrap(), "migrate"])
        .env("OAUTHD_DATABASE_URL", &db)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("access_token_ttl"));
}

async fn an_unreachable_database_is_named_at_start_up_without_its_password(_b: Backend) {
    let out = Command::new(env!("CARGO_BIN_EXE_oauthd"))
        .args(["migrate"])
        .env("OAUTHD_DATABASE_URL", "postgres://app:s3cret@127.0.0.1:1/oauthd")
        .env("OAUTHD_DB_TIMEOUT_MS", "500")
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("database_url postgres://app:***@127.0.0.1:1/oauthd"), "{err}");
    assert!(!err.contains("s3cret") && !err.contains("panicked"), "{err}");
}

async fn a_refused_client_create_leaves_no_client_behind(b: Backend) {
    let db = fresh_database(b).await;
    let (ok, _, err) = oauthd(&db, &["api", "create", "--identifier", API, "--scope", "read:x"], None);
    assert!(ok, "{err}");
    let refused: [&[&str]; 3] = [
        &["client", "create", "--name", "a", "--api", API, "--scope", "write:x"],
        &["client", "create", "--name", "b", "--scope", "read:x"],
        &["client", "create", "--name", "c", "--api", "https://new.test#frag", "--scope", "read:x"],
    ];
    for args in refused {
        let (ok, out, err) = oauthd(&db, args, None);
        assert!(!ok, "{args:?}: {out}");
        assert!(!out.contains("secret"), "{args:?}: no secret is printed: {out}");
        assert!(!err.is_empty(), "{args:?}");
    }
    let (ok, out, err) = oauthd(&db, &["client", "list", "--json"], None);
    assert!(ok, "{err}");
    let list: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(list, Value::Array(vec![]), "{out}");
    let (ok, _, err) =
        oauthd(&db, &["client", "create", "--name", "d", "--api", "https://new.test", "--scope", "x:y"], None);
    assert!(ok, "an API that does not exist yet is still created with the client: {err}");
}

async fn keys_rotate_from_the_cli_is_published_by_a_running_server_at_once(b: Backend) {
    let t = TestApp::spawn(b).await;
    let db = t.app.settings.database_url.clone();
    let (ok, out, err) = oauthd(&db, &["keys", "rotate", "--alg", "ES256"], None);
    assert!(ok, "{err}");
    let kid = out.split('\t').next().unwrap().to_string();
    assert!(t.jwks().await.find(&kid).is_some());
    let (ok, out, _) = oauthd(&db, &["keys", "list"], None);
    assert!(ok && out.lines().count() == 2, "{out}");
}

async fn the_cli_refuses_redirect_uris_with_spaces_controls_or_non_canonical_forms(b: Backend) {
    let db = fresh_database(b).await;
    let (ok, _, err) = oauthd(&db, &["migrate"], None);
    assert!(ok, "{err}");
    for bad in
        ["https://a.example/c b", "https://a.example/cb\t", "https://a.example/caf\u{e9}", "HTTPS://a.example/cb"]
    {
        let args = ["client", "create", "--name", "spa", "--public", "--redirect-uri", bad, "--json"];
        let (ok, out, err) = oauthd(&db, &args, None);
        assert!(!ok, "{bad:?} was accepted: {out}");
        assert!(err.contains("redirect URI"), "{err}");
        let (ok, _, err) =
            oauthd(&db, &["client", "create", "--name", "spa", "--public", "--post-logout-redirect-uri", bad], None);
        assert!(!ok && err.contains("redirect URI"), "{bad:?}: {err}");
    }
    let (ok, out, _) = oauthd(&db, &["client", "list", "--json"], None);
    assert!(ok && !out.contains("spa"), "nothing was stored: {out}");
    let (ok, out, err) = oauthd(
        &db,
        &["client", "create", "--name", "spa", "--public", "--redirect-uri", "http://localhost:3000", "--json"],
        None,
    );
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["redirect_uris"], serde_json::json!(["http://localhost:3000"]), "stored as written");
}

async fn a_client_id_and_a_trusted_issuer_alias_can_never_be_the_same(b: Backend) {
    let db = fresh_database(b).await;
    let dir = std::env::temp_dir().join(format!("oauthd-alias-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let jwks = dir.join("jwks.json");
    let key = oauthd::jwt::keys::generate(oauthd::jwt::keys::Alg::ES256, 0).unwrap();
    let jwk: Value = serde_json::from_str(&key.public_jwk).unwrap();
    std::fs::write(&jwks, serde_json::json!({ "keys": [jwk] }).to_string()).unwrap();
    let jwks = jwks.to_str().unwrap();
    let trust = |iss: &str, alias: &str| {
        oauthd(&db, &["trust", "add", "--issuer", iss, "--jwks-file", jwks, "--alias", alias], None)
    };
    let (ok, _, err) = trust("https://idp-one.test", "ci");
    assert!(ok, "{err}");
    let (ok, out, err) = oauthd(&db, &["client", "create", "--name", "x", "--id", "ci"], None);
    assert!(!ok && err.contains("alias"), "{out} {err}");
    let (ok, _, err) = oauthd(&db, &["client", "create", "--name", "y", "--id", "svc"], None);
    assert!(ok, "{err}");
    let (ok, _, err) = trust("https://idp-two.test", "svc");
    assert!(!ok && err.contains("client"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

on_both_backends!(
    a_client_id_and_a_trusted_issuer_alias_can_never_be_the_same,
    the_cli_refuses_redirect_uris_with_spaces_controls_or_non_canonical_forms,
    a_client_made_with_the_cli_gets_a_token,
    bad_configuration_names_the_key_and_never_panics,
    an_unreachable_database_is_named_at_start_up_without_its_password,
    a_refused_client_create_leaves_no_client_behind,
    keys_rotate_from_the_cli_is_published_by_a_running_server_at_once,
);
