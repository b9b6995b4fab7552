FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p sellerdesk

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 sellerdesk \
    && mkdir -p /keys /auth && chown sellerdesk /keys /auth
COPY --from=build /src/target/release/sellerdesk /usr/local/bin/sellerdesk
USER sellerdesk
ENTRYPOINT ["/usr/local/bin/sellerdesk"]
