# Thin entry points; the real work is in CMake, ctest and the scripts they name.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: all deps binaries build test unit integration demo bench asan tsan image clean

all: build

deps:
	@scripts/install-deps

# The control plane and helm, built from source once and cached in ~/.cache/envop.
binaries: deps
	@test/cluster/build-binaries >/dev/null

build: deps
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DENVOP_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)

test: build binaries
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

unit: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS) -L unit

integration: build binaries
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS) -L integration

# Unit tests under AddressSanitizer and UndefinedBehaviorSanitizer.
asan:
	@$(MAKE) --no-print-directory BUILD_DIR=build-asan BUILD_TYPE=Debug CMAKE_FLAGS=-DENVOP_SANITIZE=ON build
	LSAN_OPTIONS="suppressions=$(CURDIR)/test/lsan.supp" ctest --test-dir build-asan --output-on-failure -j $(JOBS) -L unit

# The unit tests, and the release and Environment tests (whose controller is then built with
# it too), under ThreadSanitizer; any report fails the run.
TSAN_TESTS ?= cluster\.|ReleasesTest|EnvironmentTest
tsan: binaries
	@$(MAKE) --no-print-directory BUILD_DIR=build-tsan BUILD_TYPE=RelWithDebInfo CMAKE_FLAGS=-DENVOP_TSAN=ON build
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/test/tsan.supp" ctest --test-dir build-tsan --output-on-failure -j $(JOBS) -L unit
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/test/tsan.supp" ctest --test-dir build-tsan --output-on-failure -j $(JOBS) -R '$(TSAN_TESTS)'

bench: build binaries
	bench/environments_at_scale 200 $(BUILD_DIR)

demo: build binaries
	scripts/demo $(BUILD_DIR)

# The controller's image, without a daemon (buildah from Debian's packages).
image: binaries
	@command -v buildah >/dev/null || { echo "make image: install buildah (apt-get install buildah)"; exit 1; }
	@mkdir -p .image && cp "$$(test/cluster/build-binaries)/helm" .image/helm
	buildah bud --isolation chroot --storage-driver vfs -t envop/envop-controller:0.1.0 .

clean:
	rm -rf $(BUILD_DIR) build-asan build-tsan
