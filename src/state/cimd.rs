//! Clients identified by a client ID metadata document (draft-ietf-oauth-client-id-metadata-document
//! §5): the document is fetched (SSRF-hardened, 5 KB, cached within bounds, refusals remembered),
//! checked (`oauth::metadata_document`), and kept as a `clients` row of origin `metadata_document`,
//! so that codes, consents and refresh families can name it. Refetched when its cache entry
//! expires, which rewrites the row if the document changed.

use std::sync::Arc;
use std::time::Duration;

use super::{AppState, ClientEntry};
use crate::clock::now;
use crate::net::cache::{DocCache, LoadError};
use crate::net::fetch::ttl_within;
use crate::oauth::metadata_document::{self, Document, DocumentAuth};
use crate::store::{AuthMethod, Client, ClientOrigin, StoreError};

/// Lifetime of a document whose answer says nothing about caching (then held within bounds).
const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// How long a refused document is remembered before its URL is fetched again.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(30);
/// Documents kept in memory.
pub const CAPACITY: u64 = 10_000;

pub type Documents = DocCache<Arc<Document>>;

/// Why a metadata-document client cannot be used.
#[derive(Debug)]
pub enum MetadataError {
    /// The URL, the host, the fetch or the document broke a rule: a message for the developer.
    Refused(String),
    Store(StoreError),
}

impl From<StoreError> for MetadataError {
    fn from(e: StoreError) -> Self {
        MetadataError::Store(e)
    }
}

impl AppState {
    /// The client whose ID is the metadata document URL `id`, with its row and grants.
    pub async fn metadata_client(&self, id: &str) -> Result<Arc<ClientEntry>, MetadataError> {
        let refused = MetadataError::Refused;
        if !self.settings.client_metadata_documents {
            return Err(refused("this server does not accept client ID metadata documents".into()));
        }
        let host = metadata_document::check_url(id).map_err(refused)?;
        if !metadata_document::host_allowed(&host, &self.metadata_hosts) {
            return Err(refused(format!("this server does not accept metadata documents from {host}")));
        }
        let doc = self.documents.get(id, self.load_document(id, &host)).await.map_err(|e| match e {
            LoadError::Refused(why) => refused(why.to_string()),
            LoadError::Other(e) => MetadataError::Store(e),
        })?;
        let entry = self.client(&doc.client_id).await?;
        let entry = entry.filter(|e| e.client.origin == ClientOrigin::MetadataDocument && !e.client.disabled);
        entry.ok_or_else(|| refused("the application is disabled".into()))
    }

    async fn load_document(&self, id: &str, host: &str) -> Result<(Arc<Document>, Duration), LoadError<StoreError>> {
        let result = self.fetcher.get(id, "application/json").await;
        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::counter!("oauthd_client_metadata_fetches_total", "outcome" => outcome).increment(1);
        let refuse = |why: String| {
            tracing::info!(client_id = id, reason = %why, "client metadata document refused");
            LoadError::Refused(why.into())
        };
        let fetched = result.map_err(refuse)?;
        let doc = metadata_document::parse(id, host, &fetched.body).map_err(refuse)?;
        let s = &self.settings;
        let (min, max) =
            (Duration::from_secs(s.client_metadata_cache_min), Duration::from_secs(s.client_metadata_cache_max));
        let ttl = ttl_within(fetched.max_age, DEFAULT_TTL, min, max);
        if self.store.put_metadata_client(&row_of(&doc, now())).await.map_err(LoadError::Other)? {
            // Read the new row at once rather than when the change event arrives.
            self.clients.invalidate(id).await;
        }
        Ok((Arc::new(doc), ttl))
    }
}

/// The `clients` row a document describes. Never first-party: the user is always asked.
fn row_of(doc: &Document, t: i64) -> Client {
    let (public, auth_method, jwks_uri) = match &doc.auth {
        DocumentAuth::None => (true, AuthMethod::ClientSecret, None),
        DocumentAuth::PrivateKeyJwt { jwks_uri } => (false, AuthMethod::PrivateKeyJwt, Some(jwks_uri.clone())),
    };
    Client {
        id: doc.client_id.clone(),
        name: doc.name.clone(),
        secret_hash: None,
        public,
        grant_types: doc.grant_types.join(" "),
        redirect_uris: doc.redirect_uris.join(" "),
        allowed_origins: String::new(),
        first_party: false,
        disabled: false,
        created_at: t,
        updated_at: t,
        post_logout_redirect_uris: String::new(),
        auth_method,
        jwks_uri,
        jwks_json: None,
        require_pkce: true,
        backchannel_logout_uri: None,
        backchannel_logout_session_required: false,
        origin: ClientOrigin::MetadataDocument,
        dpop_bound_access_tokens: false,
        require_dpop_nonce: false,
        require_pushed_authorization_requests: false,
    }
}
