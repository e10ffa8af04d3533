-- Refresh tokens as one row per family (RFC 9700 §4.14.2): a generation counter and the hash of
-- the current secret replace one row per token ever issued, so storage follows live sessions,
-- not rotations. Tokens are `<handle>.<generation>.<secret>`; the row's id is the handle's hash.
--
-- Live tokens of the earlier format keep working: such a token serves as the handle of its
-- family at generation 0, whose secret is empty (the hash below is SHA-256 of ''). Its hash
-- already is the new id. Tokens rotated before the upgrade are dropped, so presenting one again
-- is invalid_grant without revoking the family; revoked families are dropped too.
create table refresh_families_v2 (
    id text primary key,
    client_id text not null,
    user_id text not null,
    scope text not null,
    audience text not null,
    gty text not null,
    auth_time bigint not null,
    created_at bigint not null,
    expires_at bigint not null,
    idle_expires_at bigint not null,
    generation bigint not null,
    secret_hash text not null,
    issued_at bigint not null,
    rotated_generation bigint,
    rotated_hash text,
    rotated_at bigint,
    access_exp bigint not null,
    revoked_at bigint
);

insert into refresh_families_v2 (id, client_id, user_id, scope, audience, gty, auth_time, created_at, expires_at,
    idle_expires_at, generation, secret_hash, issued_at, access_exp)
select t.hash, t.client_id, t.user_id, t.scope, t.audience, t.gty, t.auth_time, f.created_at, t.family_expires_at,
    t.expires_at, 0, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', t.created_at,
    coalesce(t.access_exp, 0)
from refresh_tokens t join refresh_families f on f.id = t.family_id
where t.used_at is null and f.revoked_at is null;

-- A code replayed after the upgrade still revokes the family it started.
update auth_codes set family_id = (select t.hash from refresh_tokens t
    where t.family_id = auth_codes.family_id and t.used_at is null)
where family_id is not null;

drop table refresh_tokens;
drop table refresh_families;
alter table refresh_families_v2 rename to refresh_families;

create index refresh_families_user on refresh_families(user_id);
create index refresh_families_client on refresh_families(client_id);
create index refresh_families_idle on refresh_families(idle_expires_at);
create index refresh_families_revoked on refresh_families(revoked_at) where revoked_at is not null;

-- The purge deletes by expiry in batches; without these each batch would scan its table.
create index used_jtis_expires on used_jtis(expires_at);
create index revoked_jtis_expires on revoked_jtis(expires_at);
create index auth_codes_expires on auth_codes(expires_at);
create index sessions_expires on sessions(expires_at);
