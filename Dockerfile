# syntax=docker/dockerfile:1

# ---- build ----
FROM rust:1-bookworm AS builder
WORKDIR /build
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY templates ./templates
RUN cargo build --release --locked \
 && strip target/release/oauthd

# ---- runtime ----
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 oauthd \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/oauthd --shell /usr/sbin/nologin oauthd \
 && mkdir -p /var/lib/oauthd/data /etc/oauthd \
 && chown -R oauthd:oauthd /var/lib/oauthd

COPY --from=builder /build/target/release/oauthd /usr/local/bin/oauthd
COPY config/oauthd.toml /etc/oauthd/oauthd.toml

WORKDIR /var/lib/oauthd
VOLUME /var/lib/oauthd/data
USER 10001:10001

# The default database_url (sqlite://data/oauthd.db) resolves to /var/lib/oauthd/data/oauthd.db.
# oauthd only reads config/oauthd.toml relative to the working directory by itself; point it
# at the baked-in file with `--config /etc/oauthd/oauthd.toml` (e.g. CMD ["--config", "/etc/oauthd/oauthd.toml", "serve"])
# or mount a file at /var/lib/oauthd/config/oauthd.toml. OAUTHD_* variables override both.
ENV OAUTHD_BIND=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["oauthd"]
CMD ["--config", "/etc/oauthd/oauthd.toml", "serve"]
