//! Three processes started together on an empty database (issue 13, item 8): exactly one active
//! signing key per algorithm is left, and the key each one signs with is published by all
//! (RFC 7517 key sets). The link has a little latency, which widens the races of a cold start.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::future::join_all;
use oauthd::admin::{self, clients::NewClient};
use oauthd::clock::now;

use super::fleet::server_of;
use super::processes::Server;
use super::proxy::{Mode, Proxy};
use crate::helpers::{fresh_database, Backend, API};

/// One cold start; what went wrong in it.
async fn cold_start(round: usize) -> Vec<String> {
    let db = fresh_database(Backend::Postgres).await;
    let proxy = Proxy::start(&server_of(&db)).await;
    proxy.set(Mode::Delay(Duration::from_millis(3)));
    let env =
        [("OAUTHD_SIGNING_ALG", "ES256"), ("OAUTHD_KEY_REFRESH_INTERVAL", "1"), ("OAUTHD_ISSUER", "http://cold.test")];
    let via = proxy.url_for(&db);
    let servers: Vec<Server> = (0..3).map(|_| Server::spawn(&via, &env)).collect();
    let mut problems = Vec::new();
    for (s, up) in servers.iter().zip(join_all(servers.iter().map(|s| s.ready(Duration::from_secs(60)))).await) {
        if !up {
            problems.push(format!("round {round}: {} did not start:\n{}", s.base, s.log_tail()));
        }
    }
    if !problems.is_empty() {
        return problems;
    }
    let store = oauthd::store::open(&db, Duration::from_secs(3)).await.unwrap();
    let active = active_keys(store.as_ref()).await;
    for (alg, kids) in &active {
        if kids.len() != 1 {
            problems.push(format!("round {round}: {alg} has {} active keys", kids.len()));
        }
    }
    let Some(es256) = active.get("ES256").and_then(|k| k.first()).cloned() else {
        problems.push(format!("round {round}: no active ES256 key"));
        return problems;
    };
    admin::create_api(store.as_ref(), API, None, "read:x", now()).await.unwrap();
    let req =
        NewClient { name: "cold".into(), scope: Some("read:x".into()), api: Some(API.into()), ..Default::default() };
    let (client, secret) = admin::clients::create(store.as_ref(), req, None, now()).await.unwrap();
    // Past one key refresh, every instance signs with the active key.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    problems.extend(signers_are_published(round, &servers, (&client.id, &secret.unwrap()), &es256).await);
    problems
}

/// The kids of the active keys, by algorithm (every algorithm that has a key at all).
async fn active_keys(store: &dyn oauthd::store::Store) -> BTreeMap<String, Vec<String>> {
    let mut active: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for k in store.list_keys().await.unwrap() {
        let entry = active.entry(k.alg).or_default();
        if k.retired_at.is_none() {
            entry.push(k.kid);
        }
    }
    active
}

/// Each server signs with the active key `es256`, and every server publishes the kid it signs with.
async fn signers_are_published(
    round: usize,
    servers: &[Server],
    (id, secret): (&str, &str),
    es256: &str,
) -> Vec<String> {
    let (http, mut problems) = (reqwest::Client::new(), Vec::new());
    for s in servers {
        let form = [("grant_type", "client_credentials"), ("audience", API)];
        let r = http.post(format!("{}/token", s.base)).basic_auth(id, Some(secret)).form(&form).send();
        let (status, _, body) = crate::helpers::json(r.await.unwrap()).await;
        let Some(token) = body["access_token"].as_str().filter(|_| status == 200) else {
            problems.push(format!("round {round}: {} gave no token: {status} {body}", s.base));
            continue;
        };
        let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap_or_default();
        if kid != es256 {
            problems.push(format!("round {round}: {} signs with {kid}, not the active key {es256}", s.base));
        }
        for publisher in servers {
            let jwks: serde_json::Value = http
                .get(format!("{}/.well-known/jwks.json", publisher.base))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if !jwks["keys"].as_array().is_some_and(|ks| ks.iter().any(|k| k["kid"] == kid.as_str())) {
                problems.push(format!(
                    "round {round}: {kid} (signing on {}) is not published by {}",
                    s.base, publisher.base
                ));
            }
        }
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_started_together_leave_one_active_key_per_alg_published_by_all() {
    let _one_at_a_time = super::serial().await;
    let rounds = std::env::var("OAUTHD_FAULTS_COLD_STARTS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let mut problems = Vec::new();
    for round in 0..rounds {
        problems.extend(cold_start(round).await);
    }
    println!(
        "  cold start of three instances together on an empty database: {rounds} rounds, {} problems",
        problems.len()
    );
    super::assert_clean("cold start", problems);
}
