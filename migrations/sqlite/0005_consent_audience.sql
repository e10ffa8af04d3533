-- Consent per API and scope: `read` allowed on one API no longer covers `read` on another, and a
-- new grant adds rows instead of replacing the earlier ones. The old rows did not record the API,
-- so they cannot be carried over safely: users are asked once more. A row with scope '' records
-- that the user allowed the client on that API at all.
drop table consents;

create table consents (
    user_id text not null,
    client_id text not null,
    audience text not null,
    scope text not null,
    created_at bigint not null,
    primary key (user_id, client_id, audience, scope)
);
