-- Who registered a client: 'operator' (CLI, admin API), 'registered' (RFC 7591) or
-- 'metadata_document' (a client ID metadata document). Existing clients are the operator's.
alter table clients add column origin text not null default 'operator';
