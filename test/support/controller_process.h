// ControllerProcess runs envop-controller as a real process for a test, with its
// metrics and probe ports on free loopback ports, and reads what it serves.
#pragma once

#include <boost/process.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace envop::testing {

int freePort();

// GET http://127.0.0.1:port/path; {status, body}, status 0 when nothing answered.
std::pair<int, std::string> httpGet(int port, const std::string& path);

// The value of one sample of a Prometheus text page (metric with its labels, as
// rendered), or -1 when absent.
double sample(const std::string& page, const std::string& metricWithLabels);

// The sum of every sample of a metric whose label set contains all of `labels`
// (e.g. {"method=\"PATCH\""}).
double sumSamples(const std::string& page, const std::string& metric,
                  const std::vector<std::string>& labels);

// Polls cond every 100 ms until it holds or `limit` passes. The deadline is a
// requirement under test (or a bound on a hang), never a stand-in for an event.
bool within(std::chrono::milliseconds limit, const std::function<bool()>& cond);

// The ports a controller serves /metrics and the probes on.
struct ControllerPorts {
  int metrics = 0;  // 0: a free port
  int probe = 0;
};

class ControllerProcess final {
 public:
  using Ports = ControllerPorts;
  ControllerProcess(const std::string& name, const std::string& kubeconfig,
                    const std::vector<std::string>& extraFlags = {}, Ports ports = {});
  ~ControllerProcess();  // SIGKILL if still running
  ControllerProcess(const ControllerProcess&) = delete;
  ControllerProcess& operator=(const ControllerProcess&) = delete;

  std::string metrics() const { return httpGet(metricsPort_, "/metrics").second; }
  int probe(const std::string& path) const { return httpGet(probePort_, path).first; }
  // Finished reconciles of the environment controller, from /metrics.
  double reconciles() const;
  // Requests that change something in the API server (POST, PUT, PATCH, DELETE).
  double writes() const;
  // Waits, up to `limit`, until the environment controller has nothing left to do: no key
  // queued, none being reconciled, none delayed (a backoff or requeueAfter) to come due within
  // `horizon`, and no event recorded but unwritten — seen on two scrapes in a row with no
  // reconcile or write in between (the second rules out a key caught between the queue and a
  // worker). A later periodic resync is not work a test set off; a retry due soon is.
  bool waitUntilIdle(std::chrono::seconds horizon = std::chrono::seconds(30),
                     std::chrono::seconds limit = std::chrono::seconds(90)) const;
  void signal(int sig);
  int waitExit();
  // The exit code once the process has exited, waiting up to `limit`; nullopt if it still runs.
  std::optional<int> waitExitFor(std::chrono::milliseconds limit);
  int pid() const { return child_.id(); }
  Ports ports() const { return {metricsPort_, probePort_}; }
  const std::string& log() const { return log_; }

 private:
  int metricsPort_ = 0;
  int probePort_ = 0;
  std::string log_;
  boost::process::child child_;
};

}  // namespace envop::testing
