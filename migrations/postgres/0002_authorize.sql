alter table clients add column post_logout_redirect_uris text not null default '';

create table auth_codes (
    hash text primary key,
    client_id text not null,
    user_id text not null,
    redirect_uri text not null,
    redirect_uri_given boolean not null,
    code_challenge text,
    scope text not null,
    audience text not null,
    nonce text,
    auth_time bigint not null,
    created_at bigint not null,
    expires_at bigint not null,
    used_at bigint,
    access_jti text,
    access_exp bigint,
    family_id text
);

create table sessions (
    hash text primary key,
    user_id text not null,
    auth_time bigint not null,
    created_at bigint not null,
    expires_at bigint not null
);
create index sessions_user on sessions(user_id);

create table consents (
    user_id text not null,
    client_id text not null,
    scope text not null,
    created_at bigint not null,
    primary key (user_id, client_id)
);

create table revoked_jtis (
    jti text primary key,
    expires_at bigint not null
);
