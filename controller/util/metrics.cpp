#include "controller/util/metrics.h"

namespace envop::util {

std::shared_ptr<prometheus::Registry> sharedMetricsRegistry() {
  static const auto registry = std::make_shared<prometheus::Registry>();
  return registry;
}

prometheus::Registry& metricsRegistry() { return *sharedMetricsRegistry(); }

}  // namespace envop::util
