# hm-worker image: Debian 12, built from Debian packages only, runs as uid/gid
# 10001 with a read-only root filesystem (see deploy/). Built and smoke-tested
# by scripts/image (podman; it also makes debian:12 and debian:12-slim locally
# when no registry can be reached):
#   podman build --build-arg HM_GIT_COMMIT="$(git rev-parse --short=12 HEAD)" -t hm-worker:0.1.0 .
# Build arguments: HM_VERSION, HM_GIT_COMMIT (the context has no .git; shown by
# --version and in the labels), HM_CREATED (RFC 3339 build time) and
# HM_SOURCE (the repository's address), both labels only.
# apt reaches the mirror through the http_proxy/https_proxy of the build
# environment (podman passes them to RUN steps; they are not kept in the image).

FROM debian:12 AS build
# The -dev packages of what CMakeLists.txt finds (find_package/pkg_check_modules);
# binutils (objdump, with g++) and dpkg name the runtime packages below.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      cmake g++ make pkg-config \
      libmysqlcppconn-dev libspdlog-dev nlohmann-json3-dev libcxxopts-dev \
      libhiredis-dev prometheus-cpp-dev libcpp-httplib-dev libre2-dev libsimdjson-dev \
      libcurl4-openssl-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY include include
COPY src src
ARG HM_GIT_COMMIT=unknown
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DHM_BUILD_TESTS=OFF -DHM_GIT_COMMIT="${HM_GIT_COMMIT}" \
 && cmake --build build -j"$(nproc)" --target hm-worker \
 && strip build/hm-worker \
 && build/hm-worker --version
# The runtime packages are derived from what the binary really links: each
# NEEDED library (objdump -p) is mapped to the Debian package that ships it
# (dpkg -S); a library no package ships stops the build.
RUN set -eu; : >runtime-packages; \
    for lib in $(objdump -p build/hm-worker | awk '$1 == "NEEDED" {print $2}'); do \
      pkg="$(dpkg -S "*/$lib" 2>/dev/null | grep -v -- '-dev' | head -n1 | cut -d: -f1)"; \
      if [ -z "$pkg" ]; then echo "no Debian package ships $lib" >&2; exit 1; fi; \
      echo "$lib $pkg"; echo "$pkg" >>runtime-packages; \
    done; \
    sort -u -o runtime-packages runtime-packages

FROM debian:12-slim
COPY --from=build /src/runtime-packages /tmp/runtime-packages
# ca-certificates: the Graph API and the media CDNs are HTTPS.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates $(cat /tmp/runtime-packages) \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log /tmp/runtime-packages \
 && groupadd --gid 10001 hm \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin hm
COPY --from=build /src/build/hm-worker /usr/local/bin/hm-worker
USER 10001:10001
# In the runtime stage, as the runtime user: a shared library missing here
# fails the build instead of the first pod.
ARG HM_GIT_COMMIT=unknown
RUN /usr/local/bin/hm-worker --version \
 && /usr/local/bin/hm-worker --version | grep -qF "(commit ${HM_GIT_COMMIT})" \
 && /usr/local/bin/hm-worker --help >/dev/null \
 && /usr/local/bin/hm-worker run --help >/dev/null
ARG HM_VERSION=unknown
ARG HM_CREATED=
ARG HM_SOURCE=
LABEL org.opencontainers.image.title="hm-worker" \
      org.opencontainers.image.description="Stores Instagram direct-message webhooks in MySQL/MariaDB" \
      org.opencontainers.image.version="${HM_VERSION}" \
      org.opencontainers.image.revision="${HM_GIT_COMMIT}" \
      org.opencontainers.image.created="${HM_CREATED}" \
      org.opencontainers.image.source="${HM_SOURCE}" \
      org.opencontainers.image.base.name="debian:12-slim"
EXPOSE 9400
ENTRYPOINT ["/usr/local/bin/hm-worker"]
CMD ["run", "--role", "ingest"]
