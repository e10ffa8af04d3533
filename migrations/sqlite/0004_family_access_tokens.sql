-- The access token minted together with each refresh token, so that revoking a family also
-- denies the access tokens issued from it (RFC 7009 §2.1, RFC 6749 §4.1.2).
alter table refresh_tokens add column access_jti text;
alter table refresh_tokens add column access_exp bigint;
