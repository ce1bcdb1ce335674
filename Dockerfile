# envop-controller's image, distroless-style: nothing but the controller, helm, the shared
# libraries the controller loads, CA certificates, passwd/group and /tmp — no shell, no
# package manager. Build it without a daemon with `make image` (test/packaging/build-image:
# buildah bud --isolation chroot --storage-driver vfs), which first puts into .image/ the
# Release-built envop-controller of this host (Debian bookworm, the libraries' ABI below)
# and the helm that test/cluster/build-binaries built from source, so the image runs the helm
# the tests ran. The base is debootstrapped locally by test/packaging/base-image.

# The runtime libraries of the binary; test/packaging/runtime_libs checks this list against
# what the binary really links, and collect-rootfs fails the build if `ldd` in this stage
# finds one missing.
FROM docker.io/library/debian:bookworm-slim AS runtime-libs
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libcpprest2.10 libyaml-cpp0.7 libspdlog1.10 libfmt9 \
      libprometheus-cpp-core1.0 libboost-filesystem1.74.0 libssl3 libbrotli1 \
 && rm -rf /var/lib/apt/lists/*

FROM runtime-libs AS collect
COPY test/packaging/collect-rootfs /usr/local/sbin/collect-rootfs
COPY .image/envop-controller /usr/local/bin/envop-controller
RUN collect-rootfs /rootfs /usr/local/bin/envop-controller

FROM scratch
COPY --from=collect /rootfs/ /
# helm is static (CGO_ENABLED=0); the controller, changing most often, is the top layer.
COPY .image/helm /usr/local/bin/helm
COPY .image/envop-controller /usr/local/bin/envop-controller
# Everything the controller and its helm write (--helm-state-dir: helm's cache, config, data,
# registry logins, the values files) is in the emptyDir the chart mounts at /var/cache/envop,
# so the root filesystem may be read-only (image.smoke runs it so).
ENV PATH=/usr/local/bin HOME=/home/nonroot
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/envop-controller"]
