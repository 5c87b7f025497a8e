# hm-worker image: Debian 12, built from Debian packages only, runs as a
# non-root user with a read-only root filesystem (see deploy/).
#   docker build -t hm-worker:0.1.0 .
FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      cmake g++ make pkg-config \
      libmysqlcppconn-dev libspdlog-dev nlohmann-json3-dev libcxxopts-dev \
      libhiredis-dev prometheus-cpp-dev libcpp-httplib-dev libre2-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY include include
COPY src src
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DHM_BUILD_TESTS=OFF \
 && cmake --build build -j"$(nproc)" \
 && strip build/hm-worker \
 && build/hm-worker --version

FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libmysqlcppconn7v5 libspdlog1.10 libfmt9 libhiredis0.14 libprometheus-cpp-core1.0 libcpp-httplib0.11 libre2-9 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 hm \
 && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin hm
COPY --from=build /src/build/hm-worker /usr/local/bin/hm-worker
USER 10001:10001
EXPOSE 9400
ENTRYPOINT ["/usr/local/bin/hm-worker"]
CMD ["run", "--role", "ingest"]
