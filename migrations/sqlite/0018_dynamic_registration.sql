-- RFC 7591 dynamic client registration and RFC 7592 management. A registered client is a row
-- of `clients` (origin 'registered') plus this row: the SHA-256 of its registration access
-- token, the metadata it registered (JSON, as the registration response returns it), the
-- initial access token it came with, and its first use at /token (cleanup removes clients that
-- never get one).
create table client_registrations (
    client_id text primary key references clients(id) on delete cascade,
    token_hash text not null,
    metadata text not null,
    initial_token text,
    created_at integer not null,
    updated_at integer not null,
    used_at integer
);
create index client_registrations_unused on client_registrations (created_at) where used_at is null;

-- Initial access tokens (RFC 7591 §3), minted with `oauthd registration token create`: stored
-- as SHA-256, each good for `uses_left` registrations until `expires_at`.
create table initial_access_tokens (
    id text primary key,
    hash text not null unique,
    note text not null,
    created_at integer not null,
    expires_at integer not null,
    uses_left integer not null
);
