#include <spdlog/spdlog.h>

#include <iostream>
#include <string>
#include <vector>

#include "controller/app/manager.h"
#include "controller/app/options.h"
#include "controller/kube/config.h"
#include "controller/util/logging.h"

int main(int argc, char** argv) {
  using envop::app::ParsedOptions;
  const std::vector<std::string> args(argv + 1, argv + argc);
  const ParsedOptions parsed = envop::app::parseOptions(args);
  switch (parsed.outcome) {
    case ParsedOptions::Outcome::kHelp:
      std::cout << envop::app::usage("envop-controller");
      return 0;
    case ParsedOptions::Outcome::kError:
      std::cerr << "envop-controller: " << parsed.error << "\n";
      return 2;
    case ParsedOptions::Outcome::kRun:
      break;
  }
  const envop::app::Options& options = parsed.options;
  // Before any thread exists, so that every thread inherits the mask.
  envop::app::blockTerminationSignals();
  envop::util::setupLogging(options.logFormat, options.logLevel);

  auto config = envop::kube::resolveConfig(options.kubeconfig, envop::kube::processEnv());
  if (!config) {
    spdlog::critical("no usable Kubernetes configuration: {}", config.error().message);
    return 1;
  }
  spdlog::info("envop-controller starting against {} (config from {})", config.value().server,
               config.value().source);
  try {
    const std::string& source = config.value().source;
    return envop::app::runManager(options, config.value(), source == "in-cluster" ? "" : source);
  } catch (const std::exception& e) {
    spdlog::critical("envop-controller failed: {}", e.what());
    return 1;
  }
}
