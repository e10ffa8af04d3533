-- Token exchange (RFC 8693) policy, default deny: a row lets `client_id` exchange subject tokens
-- from `source` ('local' for oauthd's own access tokens, else a trusted issuer's `iss`) for
-- tokens to the API `audience`. `scope` caps the scopes (null: only the client's grant on the API
-- and the subject token cap them); `impersonate` also allows requests without an actor_token;
-- `subject_audience`, for local subject tokens, is the only `aud` they may have (null: any).
create table exchange_policies (
    client_id text not null references clients(id) on delete cascade,
    source text not null,
    audience text not null,
    scope text,
    impersonate boolean not null default false,
    subject_audience text,
    created_at bigint not null,
    primary key (client_id, source, audience)
);
