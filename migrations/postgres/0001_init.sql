create table clients (
    id text primary key,
    name text not null,
    secret_hash text,
    public boolean not null default false,
    grant_types text not null default '',
    redirect_uris text not null default '',
    allowed_origins text not null default '',
    first_party boolean not null default false,
    disabled boolean not null default false,
    created_at bigint not null,
    updated_at bigint not null
);

create table apis (
    identifier text primary key,
    name text not null,
    scopes text not null default '',
    created_at bigint not null
);

create table client_grants (
    client_id text not null references clients(id) on delete cascade,
    api text not null references apis(identifier) on delete cascade,
    scopes text not null default '',
    primary key (client_id, api)
);

create table signing_keys (
    kid text primary key,
    alg text not null,
    private_der bytea not null,
    public_jwk text not null,
    created_at bigint not null,
    retired_at bigint
);

create table users (
    id text primary key,
    username text not null,
    username_lower text not null unique,
    email text,
    email_verified boolean not null default false,
    password_hash text,
    disabled boolean not null default false,
    failed_count bigint not null default 0,
    failed_window_start bigint not null default 0,
    locked_until bigint not null default 0,
    created_at bigint not null,
    updated_at bigint not null
);

create table refresh_families (
    id text primary key,
    client_id text not null,
    user_id text not null,
    created_at bigint not null,
    revoked_at bigint
);
create index refresh_families_user on refresh_families(user_id);
create index refresh_families_client on refresh_families(client_id);

create table refresh_tokens (
    hash text primary key,
    family_id text not null references refresh_families(id) on delete cascade,
    client_id text not null,
    user_id text not null,
    scope text not null,
    audience text not null,
    gty text not null,
    auth_time bigint not null,
    created_at bigint not null,
    expires_at bigint not null,
    family_expires_at bigint not null,
    used_at bigint
);
create index refresh_tokens_family on refresh_tokens(family_id);
