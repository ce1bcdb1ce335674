// A helm that is no process: plugged into HelmConfig::runner, it records every call (argv,
// environment, stdin) and answers from per-command handlers, so code that drives HelmDriver is
// unit-tested with no binary, no registry and no cluster.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "controller/helm/helm_driver.h"

namespace envop::testing {

class FakeHelmRunner final : public std::enable_shared_from_this<FakeHelmRunner> {
 public:
  struct Call {
    std::vector<std::string> argv;
    std::map<std::string, std::string> environment;
    std::string stdinData;

    // The argument after `flag` ("" when absent).
    std::string flag(const std::string& name) const {
      auto it = std::find(argv.begin(), argv.end(), name);
      return it == argv.end() || it + 1 == argv.end() ? "" : *(it + 1);
    }
    bool has(const std::string& word) const {
      return std::find(argv.begin(), argv.end(), word) != argv.end();
    }
  };
  using Handler = std::function<helm::ProcessOutput(const Call&)>;

  // Answers calls whose argv starts with `command` ("show", "pull", "registry"); unanswered
  // commands fail with exit code 1.
  void on(const std::string& command, Handler handler) {
    std::lock_guard lock(mu_);
    handlers_[command] = std::move(handler);
  }

  std::vector<Call> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  int count(const std::string& command) const {
    std::lock_guard lock(mu_);
    return static_cast<int>(std::count_if(calls_.begin(), calls_.end(), [&](const Call& c) {
      return !c.argv.empty() && c.argv.front() == command;
    }));
  }
  void clear() {
    std::lock_guard lock(mu_);
    calls_.clear();
  }

  // For HelmConfig::runner; the runner keeps this fake alive.
  auto runner() {
    return [self = shared_from_this()](const std::string&, const std::vector<std::string>& argv,
                                       const std::map<std::string, std::string>& environment,
                                       const std::string& stdinData, std::chrono::milliseconds) {
      return self->run(Call{argv, environment, stdinData});
    };
  }

  static helm::ProcessOutput ok(std::string out = "", std::string err = "") {
    return {.exitCode = 0, .out = std::move(out), .err = std::move(err)};
  }
  static helm::ProcessOutput fail(std::string err, int code = 1) {
    return {.exitCode = code, .err = std::move(err)};
  }

 private:
  helm::ProcessOutput run(const Call& call) {
    Handler handler;
    {
      std::lock_guard lock(mu_);
      calls_.push_back(call);
      if (!call.argv.empty()) {
        auto it = handlers_.find(call.argv.front());
        if (it != handlers_.end()) handler = it->second;
      }
    }
    if (!handler) return fail("Error: the fake helm has no answer for this command");
    return handler(call);
  }

  mutable std::mutex mu_;
  std::map<std::string, Handler> handlers_;
  std::vector<Call> calls_;
};

}  // namespace envop::testing
