# PostgreSQL 15 with pg_retrain and pg_cron, built from this repository.
#
#   docker build -t pg_retrain .
#   docker run -e POSTGRES_PASSWORD=... -p 5432:5432 pg_retrain
#
# Only plain Dockerfile instructions: no BuildKit-only syntax, so the classic builder
# (Debian's docker.io) and BuildKit both build it.

# ---------------------------------------------------------------------------------------
# Stage 1: compile the extension with cargo-pgrx against Debian's PostgreSQL 15 headers.
# ---------------------------------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS build

# Bookworm ships PostgreSQL 15 itself, so no extra apt source is needed.
# postgresql-server-dev-15: headers and pg_config; libclang-dev: bindgen, which pgrx
# uses to read those headers; libssl-dev and pkg-config: cargo-pgrx's HTTP client.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates libclang-dev libssl-dev pkg-config postgresql-server-dev-15 \
    && rm -rf /var/lib/apt/lists/*

# The same cargo-pgrx as the pgrx crate in Cargo.toml; a mismatch refuses to build.
RUN cargo install cargo-pgrx --version 0.18.0 --locked \
    && rm -rf /usr/local/cargo/registry/src
RUN cargo pgrx init --pg15 /usr/lib/postgresql/15/bin/pg_config

WORKDIR /build

# Dependencies first, compiled for a stand-in crate with the real manifest: this layer
# is reused as long as Cargo.toml and Cargo.lock do not change, which saves most of the
# build time on a source edit. `cargo pgrx package` rather than `cargo build`, so the
# cached artifacts are built with exactly the flags of the real package step.
COPY Cargo.toml Cargo.lock pg_retrain.control ./
RUN mkdir -p src/bin \
    && echo '::pgrx::pg_module_magic!();' > src/lib.rs \
    && echo '::pgrx::pgrx_embed!();' > src/bin/pgrx_embed.rs \
    && cargo pgrx package --pg-config /usr/lib/postgresql/15/bin/pg_config \
    && rm -rf src target/release/pg_retrain-pg15

COPY src ./src
COPY sql ./sql
# COPY keeps the files' own modification times, which may be older than the stand-in's
# build: touch them so that cargo sees the sources as changed.
RUN find src sql -type f -exec touch {} + \
    && cargo pgrx package --pg-config /usr/lib/postgresql/15/bin/pg_config

# ---------------------------------------------------------------------------------------
# Stage 2: the server.
# ---------------------------------------------------------------------------------------
FROM postgres:15-bookworm

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        postgresql-15-cron \
    && rm -rf /var/lib/apt/lists/*

COPY --from=build \
    /build/target/release/pg_retrain-pg15/usr/share/postgresql/15/extension/ \
    /usr/share/postgresql/15/extension/
COPY --from=build \
    /build/target/release/pg_retrain-pg15/usr/lib/postgresql/15/lib/ \
    /usr/lib/postgresql/15/lib/

# initdb copies this sample into every new data directory, so the settings hold from the
# first (init-time) start on, which CREATE EXTENSION pg_cron in the init scripts needs.
# cron.database_name must name the database of POSTGRES_DB; 'retrain' is this image's
# default and 00-pg-retrain.sh rewrites it when POSTGRES_DB differs.
# Jobs connect through the local socket, which the image's initdb trusts. Not
# cron.use_background_workers: in pg_cron 1.4 (Debian 12) every job then waits for the
# longest running one, so a slow training would hold back all other jobs.
RUN { \
        echo; \
        echo '# pg_retrain image'; \
        echo "shared_preload_libraries = 'pg_cron'"; \
        echo "cron.database_name = 'retrain'"; \
        echo "cron.host = '/var/run/postgresql'"; \
    } >> /usr/share/postgresql/15/postgresql.conf.sample

ENV POSTGRES_DB=retrain

# Runs once, on an empty data directory, before any script mounted next to it.
COPY sql/demo/00-pg-retrain.sh /docker-entrypoint-initdb.d/
# Sourced, not executed, by the entrypoint: it must not be executable.
RUN chmod 0644 /docker-entrypoint-initdb.d/00-pg-retrain.sh
