#include "controller/helm/helm_process.h"

#include <boost/asio/io_context.hpp>
#include <boost/process.hpp>
#include <future>
#include <thread>

namespace envop::helm {
namespace {

namespace bp = boost::process;
using Clock = std::chrono::steady_clock;

// After a kill, how long the pipes may take to reach EOF; only a grandchild that left the
// process group could keep them open that long.
constexpr std::chrono::seconds kDrainAfterKill{5};

std::string ready(std::future<std::string>& f) {
  if (f.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return "";
  return f.get();
}

}  // namespace

ProcessOutput runProcess(const std::string& executable, const std::vector<std::string>& args,
                         const std::map<std::string, std::string>& environment,
                         const std::string& stdinData, std::chrono::milliseconds timeout) {
  ProcessOutput result;
  const auto start = Clock::now();
  const auto deadline = start + timeout;
  try {
    bp::environment env;
    // set(), not operator[]: Boost 1.74's environment::find reads past the end of
    // shorter entries (AddressSanitizer catches it); set() compares within bounds.
    for (const auto& [k, v] : environment) env.set(k, v);
    boost::asio::io_context io;
    std::future<std::string> out;
    std::future<std::string> err;
    bp::group group;
    bp::child child = stdinData.empty()
                          ? bp::child(bp::exe = executable, bp::args = args, env, group,
                                      bp::std_in.close(), bp::std_out > out, bp::std_err > err, io)
                          : bp::child(bp::exe = executable, bp::args = args, env, group,
                                      bp::std_in<boost::asio::buffer(stdinData), bp::std_out> out,
                                      bp::std_err > err, io);
    // The io_context runs out of work when both pipes reach EOF, which is normally exit.
    io.run_for(timeout);
    std::error_code ec;
    if (!io.stopped()) {
      result.timedOut = true;
      group.terminate(ec);
      io.restart();
      io.run_for(kDrainAfterKill);
    }
    // A child may close its pipes before it exits: give it the rest of the deadline.
    while (!result.timedOut && child.running(ec) && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!result.timedOut && child.running(ec)) {
      result.timedOut = true;
      group.terminate(ec);
    }
    if (!result.timedOut) group.detach();  // exited: nothing left to kill
    child.wait(ec);
    result.exitCode = result.timedOut ? -1 : child.exit_code();
    result.out = ready(out);
    result.err = ready(err);
  } catch (const std::exception& e) {
    result.error = std::string("cannot run ") + executable + ": " + e.what();
  }
  result.took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  return result;
}

}  // namespace envop::helm
