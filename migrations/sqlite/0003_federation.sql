alter table clients add column auth_method text not null default '';
alter table clients add column jwks_uri text;
alter table clients add column jwks_json text;

create table trusted_issuers (
    issuer text primary key,
    alias text not null unique,
    jwks_uri text,
    jwks_json text,
    subjects text not null default 'any',
    scope text not null default '',
    audience text,
    map text not null default 'link',
    max_age bigint not null default 3600,
    require_jti boolean not null default true,
    client_auth text not null default 'required',
    enabled boolean not null default true,
    created_at bigint not null
);

create table used_jtis (
    issuer text not null,
    jti text not null,
    expires_at bigint not null,
    primary key (issuer, jti)
);

create table user_links (
    issuer text not null,
    subject text not null,
    user_id text not null references users(id) on delete cascade,
    created_at bigint not null,
    primary key (issuer, subject)
);
