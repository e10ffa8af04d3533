-- RFC 8707 resource indicators: every audience a code or refresh family may mint access tokens
-- for, each with the scope granted there, as a JSON list of {aud, scope}. Rows from before have
-- '' and keep their one `audience` and `scope`.
alter table auth_codes add column resources text not null default '';
alter table refresh_families add column resources text not null default '';
