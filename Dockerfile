# envop-controller's image. Build it without a daemon:
#   make image   (buildah bud --isolation chroot --storage-driver vfs; see the Makefile)
# The helm binary is the one test/cluster/build-binaries built from source, copied into
# the build context as .image/helm by `make image`, so the image runs the helm the
# tests ran.

FROM debian:bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libcpprest-dev nlohmann-json3-dev libyaml-cpp-dev libboost-all-dev libspdlog-dev \
      prometheus-cpp-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY controller ./controller
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DENVOP_TESTS=OFF \
 && cmake --build /build --target envop-controller \
 && strip /build/controller/envop-controller

FROM debian:bookworm-slim
# The runtime libraries of the binary; test/packaging/runtime_libs checks this list
# against what the binary really links.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libcpprest2.10 libyaml-cpp0.7 libspdlog1.10 libfmt9 \
      libprometheus-cpp-core1.0 libboost-filesystem1.74.0 libssl3 libbrotli1 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/controller/envop-controller /usr/local/bin/envop-controller
COPY .image/helm /usr/local/bin/helm
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/envop-controller"]
