// The process's one Prometheus registry: every layer registers its families here and
// the /metrics endpoint serialises it.
#pragma once

#include <prometheus/registry.h>

#include <memory>

namespace envop::util {

prometheus::Registry& metricsRegistry();
std::shared_ptr<prometheus::Registry> sharedMetricsRegistry();

}  // namespace envop::util
