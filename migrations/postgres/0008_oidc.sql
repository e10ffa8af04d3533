-- OpenID Connect for every relying party (issue 14).
-- Users hold the OIDC Core §5.1 standard claims besides username and email: a JSON object of
-- the claims that are set (name, given_name, …, address), validated by oauth::claims.
alter table users add column claims text not null default '{}';

-- PKCE per client (RFC 9700 §2.1.1) and OIDC Back-Channel Logout 1.0 §2.2 registration.
alter table clients add column require_pkce boolean not null default false;
alter table clients add column backchannel_logout_uri text;
alter table clients add column backchannel_logout_session_required boolean not null default false;

-- Sessions get a public identifier (`sid`, Back-Channel Logout §2.1), distinct from the cookie
-- digest; existing sessions get a random one.
alter table sessions add column sid text;
update sessions set sid = md5(random()::text || hash) where sid is null;
create unique index sessions_sid on sessions(sid);

-- The clients that received a code in each session: the ones a logout must notify.
create table session_clients (
    sid text not null,
    client_id text not null,
    primary key (sid, client_id)
);

-- What a code carries for the ID token: the session, and the claims the request asked for.
alter table auth_codes add column sid text;
alter table auth_codes add column claims text;

-- Logout tokens waiting to be delivered (Back-Channel Logout §2.5), off the request path and
-- across restarts; a server claims due rows for a lease, then deletes or reschedules them.
create table logout_deliveries (
    id text primary key,
    client_id text not null,
    sub text not null,
    sid text,
    attempts bigint not null default 0,
    next_attempt_at bigint not null,
    created_at bigint not null
);
create index logout_deliveries_due on logout_deliveries(next_attempt_at);
