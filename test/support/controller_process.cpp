#include "test/support/controller_process.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <regex>
#include <sstream>
#include <thread>

#include "test/support/local_cluster.h"

namespace envop::testing {

namespace bp = boost::process;
using namespace std::chrono_literals;

int freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::pair<int, std::string> httpGet(int port, const std::string& path) {
  const CommandResult r = runCommand({"curl", "-s", "-o", "-", "-w", "\n%{http_code}",
                                      "http://127.0.0.1:" + std::to_string(port) + path});
  const auto nl = r.out.rfind('\n');
  if (r.exitCode != 0 || nl == std::string::npos) return {0, r.err};
  return {std::stoi(r.out.substr(nl + 1)), r.out.substr(0, nl)};
}

double sample(const std::string& page, const std::string& metricWithLabels) {
  std::istringstream in(page);
  for (std::string line; std::getline(in, line);) {
    if (line.size() > metricWithLabels.size() &&
        line.compare(0, metricWithLabels.size(), metricWithLabels) == 0 &&
        line[metricWithLabels.size()] == ' ') {
      return std::stod(line.substr(metricWithLabels.size() + 1));
    }
  }
  return -1;
}

double sumSamples(const std::string& page, const std::string& metric,
                  const std::vector<std::string>& labels) {
  double sum = 0;
  std::istringstream in(page);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(metric + "{", 0) != 0) continue;
    const auto close = line.find("} ");
    if (close == std::string::npos) continue;
    const std::string set = line.substr(metric.size() + 1, close - metric.size() - 1);
    bool all = true;
    for (const std::string& l : labels) all = all && set.find(l) != std::string::npos;
    if (all) sum += std::stod(line.substr(close + 2));
  }
  return sum;
}

bool within(std::chrono::milliseconds limit, const std::function<bool()>& cond) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return cond();
}

ControllerProcess::ControllerProcess(const std::string& name, const std::string& kubeconfig,
                                     const std::vector<std::string>& extraFlags, Ports ports) {
  metricsPort_ = ports.metrics != 0 ? ports.metrics : freePort();
  probePort_ = ports.probe != 0 ? ports.probe : freePort();
  log_ = std::string(ENVOP_BINARY_DIR) + "/" + uniqueName(name) + ".log";
  std::vector<std::string> args = {"--kubeconfig",
                                   kubeconfig,
                                   "--metrics-bind-address",
                                   "127.0.0.1:" + std::to_string(metricsPort_),
                                   "--health-probe-bind-address",
                                   "127.0.0.1:" + std::to_string(probePort_),
                                   "--log-format",
                                   "text"};
  args.insert(args.end(), extraFlags.begin(), extraFlags.end());
  // ENVOP_CONTROLLER_BINARY: a copy of the controller to run instead of the build's, for a long
  // run of tests (test/privilege/verbs-needed) that must not see a rebuild half-way.
  const char* binary = std::getenv("ENVOP_CONTROLLER_BINARY");
  child_ = bp::child(binary != nullptr && *binary != '\0'
                         ? std::string(binary)
                         : std::string(ENVOP_BINARY_DIR) + "/controller/envop-controller",
                     args, bp::std_in.close(), (bp::std_out & bp::std_err) > log_);
}

ControllerProcess::~ControllerProcess() {
  if (child_.running()) ::kill(child_.id(), SIGKILL);
  if (child_.valid()) child_.wait();
}

namespace {
double reconcilesIn(const std::string& page) {
  return sumSamples(page, "controller_runtime_reconcile_total", {"controller=\"environment\""});
}
double writesIn(const std::string& page) {
  double n = 0;
  for (const char* verb : {"POST", "PUT", "PATCH", "DELETE"}) {
    n += sumSamples(page, "rest_client_requests_total", {"method=\"" + std::string(verb) + "\""});
  }
  return n;
}
}  // namespace

double ControllerProcess::reconciles() const { return reconcilesIn(metrics()); }

double ControllerProcess::writes() const { return writesIn(metrics()); }

bool ControllerProcess::waitUntilIdle(std::chrono::seconds horizon,
                                      std::chrono::seconds limit) const {
  double reconciles = -1;
  double writes = -1;
  bool idleBefore = false;
  return within(limit, [&] {
    const std::string page = metrics();
    const double r = reconcilesIn(page);
    const double w = writesIn(page);
    const std::vector<std::string> env = {"name=\"environment\""};
    const double nextDelayed =
        sumSamples(page, "envop_workqueue_next_delayed_timestamp_seconds", env);
    const double now =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    const bool idle =
        sumSamples(page, "workqueue_depth", env) == 0 &&
        sumSamples(page, "controller_runtime_active_workers", {"controller=\"environment\""}) ==
            0 &&
        sumSamples(page, "envop_events_pending", {}) == 0 &&
        // A helm run holds no worker, but its exit is work to come.
        sumSamples(page, "envop_helm_runs", {}) == 0 &&
        (nextDelayed == 0 || nextDelayed > now + static_cast<double>(horizon.count()));
    const bool settled = idle && idleBefore && r == reconciles && w == writes;
    idleBefore = idle;
    reconciles = r;
    writes = w;
    return settled;
  });
}

void ControllerProcess::signal(int sig) { ::kill(child_.id(), sig); }

std::optional<int> ControllerProcess::waitExitFor(std::chrono::milliseconds limit) {
  if (!within(limit, [this] { return !child_.running(); })) return std::nullopt;
  child_.wait();
  return child_.exit_code();
}

int ControllerProcess::waitExit() {
  child_.wait();
  return child_.exit_code();
}

}  // namespace envop::testing
