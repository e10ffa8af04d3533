-- Cache invalidation: every write to a row the servers cache (a client, its API grants, a
-- trusted issuer) notifies channel oauthd_cache with '<kind>:<key>', whoever makes it (a server,
-- the CLI, psql). Notifications are sent at commit, and not at all on rollback.
create function oauthd_cache_notify() returns trigger language plpgsql as $$
declare
    kind text := tg_argv[0];
    col text := tg_argv[1];
    keys text[] := '{}';
    k text;
begin
    if tg_op in ('UPDATE', 'DELETE') then
        keys := keys || (to_jsonb(old) ->> col);
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        keys := keys || (to_jsonb(new) ->> col);
    end if;
    foreach k in array keys loop
        -- A payload must stay under 8000 bytes: a key that long invalidates everything instead.
        if octet_length(k) > 7000 then
            perform pg_notify('oauthd_cache', 'all:');
        else
            perform pg_notify('oauthd_cache', kind || ':' || k);
        end if;
    end loop;
    return null;
end
$$;

create function oauthd_cache_notify_all() returns trigger language plpgsql as $$
begin
    perform pg_notify('oauthd_cache', 'all:');
    return null;
end
$$;

create trigger clients_cache after insert or update or delete on clients
    for each row execute function oauthd_cache_notify('client', 'id');
create trigger client_grants_cache after insert or update or delete on client_grants
    for each row execute function oauthd_cache_notify('client', 'client_id');
create trigger trusted_issuers_cache after insert or update or delete on trusted_issuers
    for each row execute function oauthd_cache_notify('issuer', 'issuer');

create trigger clients_cache_truncate after truncate on clients
    for each statement execute function oauthd_cache_notify_all();
create trigger client_grants_cache_truncate after truncate on client_grants
    for each statement execute function oauthd_cache_notify_all();
create trigger trusted_issuers_cache_truncate after truncate on trusted_issuers
    for each statement execute function oauthd_cache_notify_all();
