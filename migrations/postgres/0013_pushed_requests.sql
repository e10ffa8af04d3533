-- Pushed authorization requests (RFC 9126): the request's parameters under the SHA-256 of the
-- random part of its request_uri, bound to the client that pushed it.
create table pushed_requests (
    hash text primary key,
    client_id text not null,
    params text not null,
    created_at bigint not null,
    expires_at bigint not null
);
create index pushed_requests_expires on pushed_requests(expires_at);

-- RFC 9126 §6: the client may pass authorization request data only by PAR.
alter table clients add column require_pushed_authorization_requests boolean not null default false;
