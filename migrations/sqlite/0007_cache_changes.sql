-- Cache invalidation on SQLite, which has no NOTIFY: every write to a row the server caches (a
-- client, its API grants, a trusted issuer), by anyone (the server, the CLI, sqlite3), appends
-- '<kind>', '<key>' here; the server reads new rows every second and drops old ones.
create table cache_changes (
    seq integer primary key autoincrement,
    kind text not null,
    key text not null,
    at integer not null
);

create trigger clients_cache_insert after insert on clients begin
    insert into cache_changes (kind, key, at) values ('client', new.id, cast(strftime('%s', 'now') as integer));
end;
create trigger clients_cache_update after update on clients begin
    insert into cache_changes (kind, key, at) values ('client', old.id, cast(strftime('%s', 'now') as integer));
    insert into cache_changes (kind, key, at) select 'client', new.id, cast(strftime('%s', 'now') as integer) where new.id <> old.id;
end;
create trigger clients_cache_delete after delete on clients begin
    insert into cache_changes (kind, key, at) values ('client', old.id, cast(strftime('%s', 'now') as integer));
end;
create trigger client_grants_cache_insert after insert on client_grants begin
    insert into cache_changes (kind, key, at) values ('client', new.client_id, cast(strftime('%s', 'now') as integer));
end;
create trigger client_grants_cache_update after update on client_grants begin
    insert into cache_changes (kind, key, at) values ('client', old.client_id, cast(strftime('%s', 'now') as integer));
    insert into cache_changes (kind, key, at) select 'client', new.client_id, cast(strftime('%s', 'now') as integer) where new.client_id <> old.client_id;
end;
create trigger client_grants_cache_delete after delete on client_grants begin
    insert into cache_changes (kind, key, at) values ('client', old.client_id, cast(strftime('%s', 'now') as integer));
end;
create trigger trusted_issuers_cache_insert after insert on trusted_issuers begin
    insert into cache_changes (kind, key, at) values ('issuer', new.issuer, cast(strftime('%s', 'now') as integer));
end;
create trigger trusted_issuers_cache_update after update on trusted_issuers begin
    insert into cache_changes (kind, key, at) values ('issuer', old.issuer, cast(strftime('%s', 'now') as integer));
    insert into cache_changes (kind, key, at) select 'issuer', new.issuer, cast(strftime('%s', 'now') as integer) where new.issuer <> old.issuer;
end;
create trigger trusted_issuers_cache_delete after delete on trusted_issuers begin
    insert into cache_changes (kind, key, at) values ('issuer', old.issuer, cast(strftime('%s', 'now') as integer));
end;
