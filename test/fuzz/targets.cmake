# The fuzz targets, each test/fuzz/<name>.cpp with its corpus in test/fuzz/corpus/<name>/; read
# by the fuzz build (test/fuzz/CMakeLists.txt) and by the ctest entries of the normal build.
# Cheapest build first: test/fuzz/run builds them in this order.
set(ENVOP_FUZZ_TARGETS
    values_fuzzer
    kubeconfig_fuzzer
    environment_spec_fuzzer
    watch_list_fuzzer
    harbor_response_fuzzer
    helm_output_fuzzer)
