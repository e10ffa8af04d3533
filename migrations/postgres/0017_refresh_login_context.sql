-- What refreshed ID tokens repeat of the login (OIDC Core §12.2): the SSO session's sid, and the
-- login's `claims` request parameter (JSON).
alter table refresh_families add column sid text;
alter table refresh_families add column claims text;
