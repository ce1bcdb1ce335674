# Thin entry points; the real work is in CMake, ctest and the scripts they name.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: all deps binaries build test unit integration privilege demo bench bench-side-by-side asan tsan fuzz fuzz-merge chaos image clean

all: build

deps:
	@scripts/install-deps

# The control plane, helm and prometheus-operator, built from source once and cached in ~/.cache/envop.
binaries: deps
	@test/cluster/build-binaries >/dev/null
	@test/cluster/build-prometheus-operator >/dev/null

build: deps
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DENVOP_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)

test: build binaries
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS) -LE privilege

# Each verb of the chart's ClusterRole removed in turn, and the test that fails without it
# (test/privilege/verbs-needed; about an hour).
privilege: build binaries
	ctest --test-dir $(BUILD_DIR) --output-on-failure -L privilege

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

# The libFuzzer targets (test/fuzz), built with clang and ASan+UBSan into build-fuzz, each run
# for FUZZ_SECONDS from its committed corpus; a crash fails the run and leaves its input in
# build-fuzz/artifacts/<target>/. fuzz-merge folds what the runs found into test/fuzz/corpus/.
FUZZ_SECONDS ?= 60
fuzz: deps
	test/fuzz/run all build-fuzz $(FUZZ_SECONDS)

fuzz-merge:
	test/fuzz/run merge build-fuzz

# The full chaos run (test/chaos/README.md): 40 faults; `make test` runs it bounded (12).
CHAOS_FAULTS ?= 40
chaos: build binaries
	CHAOS_FAULTS=$(CHAOS_FAULTS) ctest --test-dir $(BUILD_DIR) --output-on-failure -L chaos

bench: build binaries
	bench/environments_at_scale 200 $(BUILD_DIR)

# envop against the controller-runtime peer (bench/peer), in turn on one control plane.
SIDE_BY_SIDE_N ?= 200
bench-side-by-side: build binaries
	bench/environments_side_by_side $(SIDE_BY_SIDE_N) $(BUILD_DIR)

demo: build binaries
	scripts/demo $(BUILD_DIR)

# The controller's image, without a daemon: buildah (chroot isolation, vfs storage) on a
# debian:bookworm-slim debootstrapped once, holding the Release build of build-release and the
# cached helm (test/packaging/build-image says how).
image: deps
	@test/packaging/build-image build-release

clean:
	rm -rf $(BUILD_DIR) build-asan build-tsan build-release build-fuzz .image
