// The informer thread against an API server played by a fake transport: a list page it cannot
// decode, or an exception out of the layers below, must back the informer off and relist, not
// end the process through std::terminate.
#include "controller/runtime/informer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <stdexcept>
#include <thread>

#include "test/fakes/fake_transport.h"

namespace envop::runtime {
namespace {

using namespace std::chrono_literals;

bool eventually(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

const char* kGoodPage = R"({"kind":"ConfigMapList","metadata":{"resourceVersion":"42"},
  "items":[{"metadata":{"name":"settings","namespace":"pro","resourceVersion":"41"}}]})";

InformerOptions configMapOptions() {
  InformerOptions options{.resource = kube::resources::configMaps()};
  // Retries after a millisecond, so the test waits for the relist, not for a backoff.
  options.watch.backoff = {.initial = 1ms, .max = 1ms, .jitter = 0};
  return options;
}

// Answers LISTs from `pages` in turn (the last one again when they run out), counting them.
struct ScriptedLists {
  std::vector<std::function<kube::HttpResponse()>> pages;
  std::atomic<int> lists{0};
  kube::HttpResponse operator()(const kube::HttpRequest&) {
    const int n = lists++;
    return pages[std::min<std::size_t>(n, pages.size() - 1)]();
  }
};

TEST(InformerThreadTest, AMalformedListPageIsRetriedNotFatal) {
  auto script = std::make_shared<ScriptedLists>();
  script->pages = {
      // resourceVersion must be a string: reading it as one used to throw in the informer thread.
      [] { return kube::HttpResponse{.status = 200, .body = R"({"metadata":{"resourceVersion":7},
                                                               "items":[]})"}; },
      [] { return kube::HttpResponse{.status = 200, .body = R"({"items":[1]})"}; },
      [] { return kube::HttpResponse{.status = 200, .body = kGoodPage}; }};
  auto transport = std::make_shared<fakes::FakeTransport>(
      [script](const kube::HttpRequest& r) { return (*script)(r); });
  Informer informer(std::make_shared<kube::Client>(transport), configMapOptions());
  informer.start();
  ASSERT_TRUE(eventually([&] { return informer.hasSynced(); }));
  EXPECT_NE(informer.store()->get("pro/settings"), nullptr);
  EXPECT_EQ(script->lists.load(), 3);
  informer.stop();
}

TEST(InformerThreadTest, AnExceptionInTheInformerThreadIsCaughtCountedAndRelisted) {
  const double before = informerExceptions("configmaps");
  auto script = std::make_shared<ScriptedLists>();
  script->pages = {[]() -> kube::HttpResponse { throw std::runtime_error("decoder bug"); },
                   [] { return kube::HttpResponse{.status = 200, .body = kGoodPage}; }};
  auto transport = std::make_shared<fakes::FakeTransport>(
      [script](const kube::HttpRequest& r) { return (*script)(r); });
  Informer informer(std::make_shared<kube::Client>(transport), configMapOptions());
  informer.start();
  ASSERT_TRUE(eventually([&] { return informer.hasSynced(); }));
  EXPECT_NE(informer.store()->get("pro/settings"), nullptr);
  EXPECT_EQ(informerExceptions("configmaps"), before + 1);
  // Synced, it went on to watch.
  ASSERT_TRUE(eventually([&] { return transport->requests().size() >= 3; }));
  EXPECT_NE(transport->requests()[2].pathAndQuery.find("watch=true"), std::string::npos);
  informer.stop();
}

}  // namespace
}  // namespace envop::runtime
