-- DPoP, RFC 9449 (issue 16).
-- Per client (RFC 9449 §5.2 `dpop_bound_access_tokens`): every token request must carry a proof;
-- and whether its proofs must carry a server nonce (§8).
alter table clients add column dpop_bound_access_tokens boolean not null default false;
alter table clients add column require_dpop_nonce boolean not null default false;

-- §10: the thumbprint `dpop_jkt` named at /authorize, checked against the proof at the exchange.
alter table auth_codes add column dpop_jkt text;
-- §5: a public client's refresh tokens are bound to the key of the proof they were issued with.
alter table refresh_families add column dpop_jkt text;

-- §11.1: proofs seen, one row per key and jti (the SHA-256 of both), until the proof's iat
-- leaves the accepted window; shared by every instance, consumed by one insert.
create table dpop_jtis (
    proof_key text primary key,
    expires_at bigint not null
);
create index dpop_jtis_expires on dpop_jtis(expires_at);

-- Keys the instances must share, created once by whichever instance needs one first: the HMAC
-- key of the stateless DPoP nonces (§8), so that every instance accepts every instance's nonce.
create table server_secrets (
    name text primary key,
    value text not null,
    created_at bigint not null
);
