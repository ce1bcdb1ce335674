// Running one helm child: argv only (never a shell), an explicit environment, optional stdin,
// both pipes captured, and a deadline after which the child's whole process group is killed
// with SIGKILL, so a hung helm (or anything it spawned) cannot hold a reconcile worker.
// Never throws: a spawn failure is reported in ProcessOutput::error.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace envop::helm {

struct ProcessOutput {
  int exitCode = -1;
  std::string out;
  std::string err;
  bool timedOut = false;
  std::string error;  // the child could not be started (or waited for)
  std::chrono::milliseconds took{0};
};

ProcessOutput runProcess(const std::string& executable, const std::vector<std::string>& args,
                         const std::map<std::string, std::string>& environment,
                         const std::string& stdinData, std::chrono::milliseconds timeout);

}  // namespace envop::helm
