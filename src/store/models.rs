//! Rows as the store returns them. Lists are stored as space-separated text.

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Client {
    pub id: String,
    pub name: String,
    /// Hex SHA-256 of the secret; `None` for public clients.
    pub secret_hash: Option<String>,
    pub public: bool,
    pub grant_types: String,
    pub redirect_uris: String,
    pub allowed_origins: String,
    pub first_party: bool,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub post_logout_redirect_uris: String,
    /// How a confidential client authenticates at the token endpoint.
    #[sqlx(try_from = "String")]
    pub auth_method: AuthMethod,
    pub jwks_uri: Option<String>,
    pub jwks_json: Option<String>,
    /// PKCE even though the client is confidential (public clients always need it).
    pub require_pkce: bool,
    /// OIDC Back-Channel Logout 1.0 §2.2: where logout tokens are POSTed.
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
    /// Where the client came from: the operator, dynamic registration, or a metadata document.
    #[sqlx(try_from = "String")]
    pub origin: ClientOrigin,
}

impl Client {
    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.split(' ').any(|g| g == grant)
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Api {
    pub identifier: String,
    pub name: String,
    pub scopes: String,
    pub created_at: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ClientGrant {
    pub api: String,
    pub scopes: String,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct KeyRecord {
    pub kid: String,
    pub alg: String,
    pub private_der: Vec<u8>,
    pub public_jwk: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct User {
    pub id: String,
    pub username: String,
    pub username_lower: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub password_hash: Option<String>,
    pub disabled: bool,
    pub failed_count: i64,
    pub failed_window_start: i64,
    pub locked_until: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// The OIDC Core §5.1 claims set on the user, as a JSON object (see `oauth::claims`).
    pub claims: String,
}

/// Brute-force policy applied by `Store::record_login_failure`.
#[derive(Clone, Copy, Debug)]
pub struct LockoutPolicy {
    pub now: i64,
    pub window: i64,
    pub threshold: i64,
}

/// A refresh-token family (RFC 9700 §4.14.2): everything descended from one login, in one row
/// however often it rotates. Tokens name it by a handle whose SHA-256 is `id`.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RefreshFamily {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    /// What the login granted; a refresh may ask for less, and the next one for all of it again.
    pub scope: String,
    pub audience: String,
    pub gty: String,
    pub auth_time: i64,
    pub created_at: i64,
    /// Absolute end, never extended.
    pub expires_at: i64,
    /// Idle end of the current token (never past `expires_at`).
    pub idle_expires_at: i64,
    /// Of the current token: 0 for the first, one more for every token issued since.
    pub generation: i64,
    /// SHA-256 of the current token's secret.
    pub secret_hash: String,
    pub issued_at: i64,
    /// The token rotated last, which the reuse grace accepts until `rotated_at` + grace.
    pub rotated_generation: Option<i64>,
    pub rotated_hash: Option<String>,
    pub rotated_at: Option<i64>,
    /// `exp` of the newest access token minted in the family: until then a revoked family must
    /// stay, since it denies those access tokens.
    pub access_exp: i64,
    /// The SSO session of the login, kept in the ID tokens of refreshes (OIDC Core §12.2).
    pub sid: Option<String>,
    /// The login's `claims` request parameter (JSON of `oauth::claims::Requested`), honoured again
    /// on every refresh.
    pub claims: Option<String>,
    pub revoked_at: Option<i64>,
}

/// One rotation: the presented token (current, or the one rotated last within the grace) gives
/// way to a new secret. The store assigns the generation.
#[derive(Debug)]
pub struct Rotation<'a> {
    pub family_id: &'a str,
    pub client_id: &'a str,
    pub generation: i64,
    pub secret_hash: &'a str,
    pub new_hash: &'a str,
    pub now: i64,
    /// Seconds after a rotation during which the rotated token may be presented once more.
    pub grace: i64,
    pub idle_expires_at: i64,
    pub access_exp: i64,
}

/// The `jti` of an access token minted in a refresh family: the family id, a dot, a nonce. A
/// revoked family thereby denies its access tokens without a deny-list row for each.
pub fn family_jti(family_id: &str, nonce: &str) -> String {
    format!("{family_id}.{nonce}")
}

/// The family an access token's `jti` names, if it was minted in one.
pub fn family_of_jti(jti: &str) -> Option<&str> {
    jti.split_once('.').map(|(family, _)| family)
}

/// An authorization code (RFC 6749 §4.1.2) and everything it is bound to.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AuthCode {
    pub hash: String,
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub redirect_uri_given: bool,
    pub code_challenge: Option<String>,
    pub scope: String,
    pub audience: String,
    pub nonce: Option<String>,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub access_jti: Option<String>,
    pub access_exp: Option<i64>,
    pub family_id: Option<String>,
    /// The SSO session the code was issued in (its `sid`).
    pub sid: Option<String>,
    /// The claims the request asked for (`oauth::claims::Requested`, as JSON).
    pub claims: Option<String>,
}

/// A signed-in browser (SSO session); the cookie carries the token, the row its hash.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Session {
    pub hash: String,
    pub user_id: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
    /// The public session ID of OIDC Back-Channel Logout 1.0 §2.1.
    pub sid: Option<String>,
}

/// A logout token still to be delivered to a client (OIDC Back-Channel Logout 1.0 §2.5).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct LogoutDelivery {
    pub id: String,
    pub client_id: String,
    pub sub: String,
    pub sid: Option<String>,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub created_at: i64,
}

/// What a successful code redemption stores in the same transaction as consuming the code.
#[derive(Debug)]
pub struct Redemption<'a> {
    pub access_jti: &'a str,
    pub access_exp: i64,
    pub refresh: Option<&'a RefreshFamily>,
}

/// An identity provider whose JWTs the jwt-bearer grant accepts (RFC 7523 §3).
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct TrustedIssuer {
    pub issuer: String,
    pub alias: String,
    pub jwks_uri: Option<String>,
    pub jwks_json: Option<String>,
    /// `any`, a space-separated list, or globs with `*`.
    pub subjects: String,
    pub scope: String,
    pub audience: Option<String>,
    #[sqlx(try_from = "String")]
    pub map: SubjectMap,
    pub max_age: i64,
    pub require_jti: bool,
    #[sqlx(try_from = "String")]
    pub client_auth: IssuerClientAuth,
    pub enabled: bool,
    pub created_at: i64,
}

/// Text-valued columns that are really one of a few names.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub enum $name {
            #[default]
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(s: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                Self::parse(&s).ok_or_else(|| format!("unknown {} {s:?}", stringify!($name)))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// A confidential client's token-endpoint authentication (public clients use `none`).
    AuthMethod {
        /// `client_secret_basic` or `client_secret_post` (stored as an empty string).
        ClientSecret = "",
        /// RFC 7523 §2.2 client assertions, checked against the client's key set.
        PrivateKeyJwt = "private_key_jwt",
    }
);

text_enum!(
    /// Who registered a client. Operator clients are trusted with their API grants; the others
    /// arrive with no prior relationship (MCP clients) and get API scopes only by user consent.
    ClientOrigin {
        /// Created by an operator (CLI or admin API).
        Operator = "operator",
        /// RFC 7591 dynamic client registration.
        Registered = "registered",
        /// A client ID metadata document (draft-ietf-oauth-client-id-metadata-document).
        MetadataDocument = "metadata_document",
    }
);

text_enum!(
    /// How a trusted issuer's `sub` becomes the token's subject (jwt-bearer).
    SubjectMap {
        /// A local user linked to the issuer's subject with `user link`.
        Link = "link",
        /// `<alias>|<sub>`, with no local user.
        Passthrough = "passthrough",
        /// A local user `<alias>|<sub>`, created on first use.
        Provision = "provision",
    }
);

text_enum!(
    /// Whether a jwt-bearer request for this issuer must also authenticate a client.
    IssuerClientAuth {
        Required = "required",
        Optional = "optional",
    }
);

/// One change made through the admin API or the CLI. `before`/`after` are JSON without secrets.
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct AuditEvent {
    /// Sorts by time: zero-padded unix nanoseconds, a dash, a random part. Also the list cursor.
    pub id: String,
    pub at: i64,
    /// `client:<client_id>` for an admin API token, `local-cli` for the CLI.
    pub actor: String,
    pub action: String,
    pub target: String,
    pub request_id: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// How long an `Idempotency-Key` is kept (the draft suggests at least 24 hours).
pub const IDEMPOTENCY_KEEP_SECS: i64 = 86400;

/// An `Idempotency-Key` reservation and, once the create finished, its answer.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct IdempotencyRecord {
    pub request_hash: String,
    /// 0 while the first request is still running.
    pub status: i64,
    pub body: Option<String>,
}

/// What a page of clients is limited to: ids after `after`, and the optional filters.
#[derive(Clone, Debug, Default)]
pub struct ClientFilter {
    pub after: String,
    pub limit: i64,
    /// Only clients of this origin (`operator`, `registered`, `metadata_document`).
    pub origin: Option<String>,
    pub disabled: Option<bool>,
}

/// The scopes a user allowed a client on one API.
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct Consent {
    pub client_id: String,
    pub audience: String,
    pub scope: String,
    pub created_at: i64,
}
