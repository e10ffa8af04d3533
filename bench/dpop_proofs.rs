//! DPoP proofs for the client_credentials + DPoP row of bench/ratios.sh: one ES256 key, N proofs
//! (RFC 9449 §4.2) for `POST HTU`, each with its own `jti`, written as wrk request lines
//! "<Authorization>\t<DPoP>\t<body>" for bench/dpop.lua. Signed here, before the run, so the load
//! generator spends nothing on them.
//!
//! Usage: bench_dpop_proofs N HTU AUTHORIZATION BODY OUT

use std::io::Write;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use oauthd::config::Alg;
use oauthd::jwt::keys::{generate, SigningKey};
use serde_json::{json, Value};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, n, htu, auth, body, out] = args.as_slice() else {
        anyhow::bail!("usage: bench_dpop_proofs N HTU AUTHORIZATION BODY OUT");
    };
    let n: usize = n.parse()?;
    let rec = generate(Alg::ES256, 0)?;
    let key = SigningKey::from_record(&rec, None)?;
    let public: Value = serde_json::from_str(&rec.public_jwk)?;
    let jwk = json!({ "kty": "EC", "crv": "P-256", "x": public["x"], "y": public["y"] });
    let header = B64.encode(json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": jwk }).to_string());
    let iat = oauthd::clock::now();
    let mut w = std::io::BufWriter::new(std::fs::File::create(out)?);
    for i in 0..n {
        let claims = json!({ "jti": format!("bench-{iat}-{i}"), "htm": "POST", "htu": htu, "iat": iat });
        let proof = key.sign_compact(format!("{header}.{}", B64.encode(claims.to_string())))?;
        writeln!(w, "{auth}\t{proof}\t{body}")?;
    }
    w.flush()?;
    Ok(())
}
