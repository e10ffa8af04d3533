//! An https server on 127.0.0.1 with a certificate made for the test (rcgen), serving client ID
//! metadata documents whose answer each test sets per path, and counting the requests per path.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio_rustls::rustls;

/// What one path answers.
#[derive(Clone, Debug)]
pub struct Served {
    pub status: u16,
    pub body: String,
    pub cache_control: Option<String>,
    pub location: Option<String>,
    pub delay: Duration,
}

impl Served {
    pub fn json(v: serde_json::Value) -> Served {
        Served { status: 200, body: v.to_string(), cache_control: None, location: None, delay: Duration::ZERO }
    }
}

#[derive(Default)]
pub struct HostState {
    pub served: Mutex<HashMap<String, Served>>,
    pub hits: Mutex<HashMap<String, usize>>,
}

pub struct DocHost {
    /// `https://127.0.0.1:<port>`.
    pub base: String,
    /// The PEM of the certificate, which is its own CA: give it to `fetch_ca_file`.
    pub ca_file: PathBuf,
    pub state: Arc<HostState>,
}

impl DocHost {
    pub async fn start() -> DocHost {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.subject_alt_names.push(rcgen::SanType::IpAddress(ip));
        let cert = params.self_signed(&key).unwrap();
        let ca_file = std::env::temp_dir().join(format!("oauthd-test-ca-{}.pem", uuid::Uuid::new_v4().simple()));
        std::fs::write(&ca_file, cert.pem()).unwrap();

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let base = format!("https://{}", listener.local_addr().unwrap());
        let state = Arc::new(HostState::default());
        let router = axum::Router::new().fallback(serve).with_state(state.clone());
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { continue };
                let (acceptor, router) = (acceptor.clone(), router.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let service = TowerToHyperService::new(router);
                    let _ =
                        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service).await;
                });
            }
        });
        DocHost { base, ca_file, state }
    }

    /// The URL of `path` on this host.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Serves `what` at `path` from now on.
    pub fn set(&self, path: &str, what: Served) {
        self.state.served.lock().unwrap().insert(path.to_string(), what);
    }

    /// Requests received for `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.state.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

async fn serve(State(s): State<Arc<HostState>>, uri: Uri) -> Response {
    let path = uri.path().to_string();
    *s.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    let Some(what) = s.served.lock().unwrap().get(&path).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    tokio::time::sleep(what.delay).await;
    let mut r = (StatusCode::from_u16(what.status).unwrap(), what.body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    if let Some(cc) = what.cache_control {
        h.insert(header::CACHE_CONTROL, cc.parse().unwrap());
    }
    if let Some(loc) = what.location {
        h.insert(header::LOCATION, loc.parse().unwrap());
    }
    r
}
