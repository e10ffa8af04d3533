-- The device authorization grant (RFC 8628, issue 17). The device code (256 bits) and the user
-- code are stored only as SHA-256 digests. `status` moves pending -> approved | denied, and
-- approved -> used in the one statement that redeems it. `polled_at_ms` and `poll_interval` are
-- the polling state behind slow_down (§3.5).
create table device_codes (
    hash text primary key,
    user_code_hash text not null unique,
    client_id text not null,
    scope text not null,
    audience text not null,
    created_at bigint not null,
    expires_at bigint not null,
    poll_interval bigint not null,
    polled_at_ms bigint,
    slowed boolean not null default false,
    status text not null default 'pending',
    user_id text,
    auth_time bigint,
    sid text
);
create index device_codes_expiry on device_codes(expires_at);
