# natsdr's container image: built here, run in each region as `natsdr run` (deploy/natsdr/).
# No HEALTHCHECK on purpose: Kubernetes probes /livez and /readyz on port 8080 instead.

FROM rust:1.95-bookworm AS builder
WORKDIR /src
# Dependencies first, against stub sources: this layer is rebuilt only when Cargo.toml,
# Cargo.lock or the build script change, not on every source edit.
# The workspace's other members are declared there, so their manifests come too; the lab's
# sources never enter the image (only the daemon's package and its core are built).
COPY Cargo.toml Cargo.lock build.rs ./
COPY crates/natsdr-core/Cargo.toml ./crates/natsdr-core/
COPY crates/natsdr-lab/Cargo.toml ./crates/natsdr-lab/
RUN mkdir -p src crates/natsdr-core/src crates/natsdr-lab/src \
    && echo 'fn main() {}' > src/main.rs \
    && echo 'fn main() {}' > crates/natsdr-lab/src/main.rs \
    && touch src/lib.rs crates/natsdr-core/src/lib.rs crates/natsdr-lab/src/lib.rs \
    && cargo build --release --locked -p natsdr \
    && rm -rf src crates/natsdr-core/src
# The commit `natsdr --version` names (the build context holds no git history). Declared after
# the dependency layer: a build argument's new value misses the cache of every RUN after it.
ARG REVISION=unknown
ENV NATSDR_COMMIT=${REVISION}
COPY crates/natsdr-core/src ./crates/natsdr-core/src
COPY src ./src
# NB: the stubs' build is newer than the copied sources' mtimes; touch so cargo rebuilds them.
RUN touch src/main.rs src/lib.rs crates/natsdr-core/src/lib.rs \
    && cargo build --release --locked -p natsdr --bin natsdr

# distroless cc: glibc and CA certificates, no shell, no package manager; runs as uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="natsdr" \
      org.opencontainers.image.description="Autonomous disaster-recovery watchdog for NATS JetStream" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"
COPY --from=builder /src/target/release/natsdr /usr/local/bin/natsdr
# Numeric, so Kubernetes' runAsNonRoot can verify it without a passwd lookup.
USER 65532:65532
# natsdr writes nothing to its root filesystem: config and secrets are mounted read-only and
# state lives in DNS and in the streams' metadata, so readOnlyRootFilesystem works as is.
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/natsdr"]
CMD ["run", "--config", "/etc/natsdr/natsdr.toml"]
