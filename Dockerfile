# Coffer in a container: built with the Rust toolchain, run from a small Debian image as a
# non-root user, data in the /data volume. See README "Running it as a service".
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p coffer-server \
 && install -D -m 0755 target/release/coffer /out/coffer

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin coffer \
 && mkdir -p /data && chown coffer:coffer /data && chmod 0700 /data
COPY --from=build /out/coffer /usr/local/bin/coffer
USER coffer
ENV COFFER_DATA_DIR=/data \
    COFFER_ADDRESS=0.0.0.0:9000
VOLUME ["/data"]
EXPOSE 9000
STOPSIGNAL SIGTERM
# Ready once the index answers and the data dir takes writes. bash's /dev/tcp needs no curl
# in the image (plain HTTP; with TLS on, check from outside).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9000 && printf 'GET /health/ready HTTP/1.0\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["/usr/local/bin/coffer"]
CMD ["serve"]
