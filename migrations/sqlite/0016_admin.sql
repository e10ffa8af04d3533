-- The admin API (issue 18): audit events of every change, and Idempotency-Key reservations.
-- An event's id sorts by time (zero-padded nanoseconds, then a random part), so it is the cursor.
create table audit_events (
    id text primary key,
    at integer not null,
    actor text not null,
    action text not null,
    target text not null,
    request_id text,
    before text,
    after text
);
create index audit_events_at on audit_events(at);

-- One row per (actor, key): reserved in one insert before the create runs, so two racers never
-- both create; the answer is kept (without secrets) for replays.
create table idempotency_keys (
    actor text not null,
    key text not null,
    request_hash text not null,
    status integer not null default 0,
    body text,
    created_at integer not null,
    primary key (actor, key)
);
