# Shiftwire API server image. Build: docker build -t shiftwire .
# Queries are checked at compile time against the committed .sqlx/ metadata (SQLX_OFFLINE).
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
ENV SQLX_OFFLINE=true
RUN cargo build --release --bin shiftwire

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin shiftwire
WORKDIR /app
COPY --from=builder /src/target/release/shiftwire /usr/local/bin/shiftwire
COPY --from=builder /src/migrations /app/migrations
# The fictional demo registry is the default LICENSE_REGISTRY_CSV; point it at real data.
COPY --from=builder /src/registry /app/registry
RUN mkdir -p /app/data/documents && chown -R 10001:10001 /app/data
USER 10001:10001
# Production: JWT_SECRET and OTP_SECRET must be given (the development ones are refused).
# /metrics is on METRICS_ADDR inside the container's network, or on 8080 with METRICS_TOKEN.
ENV SHIFTWIRE_ENV=production \
    BIND_ADDR=0.0.0.0:8080 \
    METRICS_ADDR=0.0.0.0:9464 \
    DOCUMENT_DIR=/app/data/documents \
    LICENSE_REGISTRY_CSV=/app/registry/demo-licenses.csv
EXPOSE 8080
ENTRYPOINT ["shiftwire"]
CMD ["serve"]
