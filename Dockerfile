# Conveyor's container image: built from source on Debian 12, run on Debian
# 12 slim with the runtime libraries only (no compiler, no headers).
#
#   scripts/build-image.sh          builds it here from Debian's archive
#                                   (mmdebstrap + buildah), no image registry
#   docker build -t conveyor .      anywhere with access to Docker Hub
#
# The image runs `conveyor` as its entrypoint (exec form: conveyor is PID 1
# and gets the SIGTERM of `docker stop` or the kubelet, finishes and commits
# its batch in flight, leaves its consumer group and exits 0), as user
# 10001, numeric so that Kubernetes can check runAsNonRoot. It holds the
# binary, the migrations (also compiled in), the schemas, the topology and
# the reference configuration, as `cmake --install` lays them out under
# /usr/local; tests/helm/test_image_files.sh checks that list and the
# runtime packages against the build. The default command is `run`; the
# Helm chart passes its own arguments and mounts its configuration.
ARG BUILD_IMAGE=docker.io/library/debian:12
ARG RUNTIME_IMAGE=docker.io/library/debian:12-slim

FROM ${BUILD_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config \
        librdkafka-dev libavro-dev libpq-dev libcurl4-openssl-dev \
        libconfig-dev libjansson-dev libmicrohttpd-dev libcsv-dev \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr/local \
 && cmake --build /build --target conveyor -j"$(nproc)" \
 && DESTDIR=/stage cmake --install /build \
 && /stage/usr/local/bin/conveyor --version

FROM ${RUNTIME_IMAGE}
# The runtime packages: the binary's shared-library dependencies
# (dpkg-shlibdeps; tests/helm/test_image_files.sh checks this list), CA
# certificates for TLS to Kafka, Postgres and HTTP APIs, and the time zone
# database the ticker reads.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        librdkafka1 libavro23 libpq5 libconfig9 libjansson4 libcurl4 \
        libmicrohttpd12 libcsv3 \
        ca-certificates tzdata \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 conveyor \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin conveyor
COPY --from=build /stage/usr/local/ /usr/local/
USER 10001:10001
WORKDIR /
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/conveyor"]
CMD ["run"]
