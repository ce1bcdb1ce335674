// The informer thread against an API server played by a fake transport: a list page it cannot
// decode, or an exception out of the layers below, must back the informer off and relist, not
// end the process through std::terminate.
#include "controller/runtime/informer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <stdexcept>
#include <thread>

#include "controller/app/cache_policy.h"
#include "controller/environment/spec.h"
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
      [] {
        return kube::HttpResponse{.status = 200, .body = R"({"metadata":{"resourceVersion":7},
                                                               "items":[]})"};
      },
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

// An API server for one resource: LISTs answered by path (cluster-wide or one namespace's),
// and watch streams that carry the lines pushed to them, then stay quiet until cancelled.
// Records every request. Thread-safe.
class ScriptedApiServer final : public kube::Transport {
 public:
  void setList(const std::string& path, kube::Json body) {
    std::lock_guard lock(mu_);
    lists_[path] = std::move(body);
  }
  void push(const std::string& type, const kube::Json& object) {
    std::lock_guard lock(mu_);
    lines_.push_back(kube::Json{{"type", type}, {"object", object}}.dump());
    wake_.notify_all();
  }
  std::vector<kube::HttpRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  int count(const std::string& method, const std::string& pathPrefix) const {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& r : requests_) {
      const bool watch = r.pathAndQuery.find("watch=true") != std::string::npos;
      if ((method == "WATCH") == watch && r.pathAndQuery.starts_with(pathPrefix + "?")) ++n;
    }
    return n;
  }

  kube::HttpResponse send(const kube::HttpRequest& request) override {
    std::lock_guard lock(mu_);
    requests_.push_back(request);
    const std::string path = request.pathAndQuery.substr(0, request.pathAndQuery.find('?'));
    const auto it = lists_.find(path);
    if (it == lists_.end()) return {.status = 404, .body = R"({"kind":"Status","code":404})"};
    return {.status = 200, .body = it->second.dump()};
  }
  kube::HttpResponse stream(const kube::HttpRequest& request,
                            const std::function<bool(std::string_view)>& onLine,
                            kube::Cancellation& cancel) override {
    {
      std::lock_guard lock(mu_);
      requests_.push_back(request);
    }
    const int id = cancel.subscribe([this] {
      std::lock_guard lock(mu_);
      wake_.notify_all();
    });
    std::unique_lock lock(mu_);
    while (true) {
      wake_.wait(lock, [&] { return cancel.cancelled() || !lines_.empty(); });
      if (cancel.cancelled()) break;
      const std::string line = std::move(lines_.front());
      lines_.pop_front();
      lock.unlock();
      const bool more = onLine(line);
      lock.lock();
      if (!more) break;
    }
    lock.unlock();
    cancel.unsubscribe(id);
    return {.status = 200};
  }
  const std::string& host() const override { return host_; }

 private:
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::map<std::string, kube::Json> lists_;
  std::deque<std::string> lines_;
  std::vector<kube::HttpRequest> requests_;
  const std::string host_ = "scripted:443";
};

kube::Json secretMeta(const std::string& ns, const std::string& name, const std::string& rv) {
  return {
      {"metadata",
       {{"name", name},
        {"namespace", ns},
        {"resourceVersion", rv},
        {"annotations",
         {{"kubectl.kubernetes.io/last-applied-configuration",
           R"({"data":{"password":"c2VjcmV0"}})"}}},
        {"managedFields", {{{"manager", "kubectl-client-side-apply"}, {"operation", "Update"}}}}}}};
}

kube::Json environmentNamespace(const std::string& name) {
  return {{"metadata",
           {{"name", name},
            {"resourceVersion", "1"},
            {"labels",
             {{environment::kManagedByLabel, environment::kManagedByValue},
              {environment::kEnvironmentLabel, name}}}}}};
}

kube::Json listOf(std::vector<kube::Json> items, const std::string& rv) {
  return {{"kind", "SecretList"}, {"metadata", {{"resourceVersion", rv}}}, {"items", items}};
}

struct Recorded {
  std::mutex mu;
  std::vector<Delta> deltas;
  bool saw(Delta::Type type, const std::string& key) {
    std::lock_guard lock(mu);
    for (const Delta& d : deltas) {
      if (d.type == type && d.key == key) return true;
    }
    return false;
  }
};

// Secrets of namespaces outside every Environment never reach envop's memory, and what does is
// without its managedFields and kubectl's last-applied copy of the data.
TEST(InformerKeepTest, ASecretOutsideEveryEnvironmentsNamespaceIsNotCached) {
  auto server = std::make_shared<ScriptedApiServer>();
  server->setList("/api/v1/secrets", listOf({secretMeta("shop-dev", "values", "40"),
                                             secretMeta("kube-system", "token", "41")},
                                            "42"));
  auto namespaces = std::make_shared<Store>();
  namespaces->upsert(environmentNamespace("shop-dev"));
  InformerOptions options{.resource = kube::resources::secrets(),
                          .metadataOnly = true,
                          .keep = app::inEnvironmentNamespaceOrMadeByHelm(namespaces),
                          .transform = app::stripManagedFieldsAndLastApplied};
  Informer informer(std::make_shared<kube::Client>(server), options);
  informer.start();
  ASSERT_TRUE(eventually([&] { return informer.hasSynced(); }));
  EXPECT_EQ(informer.store()->keys(), std::vector<std::string>{"shop-dev/values"});
  // Listed in pages from a consistent read: resourceVersion=0 would be answered from the watch
  // cache in one piece, every Secret of the cluster in memory at once.
  const std::string firstList = server->requests().front().pathAndQuery;
  EXPECT_EQ(firstList.find("resourceVersion="), std::string::npos) << firstList;
  EXPECT_NE(firstList.find("limit=500"), std::string::npos) << firstList;
  const ObjectPtr cached = informer.store()->get("shop-dev/values");
  ASSERT_NE(cached, nullptr);
  EXPECT_FALSE((*cached)["metadata"].contains("managedFields"));
  EXPECT_EQ(cached->dump().find("c2VjcmV0"), std::string::npos);

  // Watched objects go through the same door: one outside is dropped, one inside stripped.
  server->push("ADDED", secretMeta("kube-system", "another", "43"));
  server->push("MODIFIED", secretMeta("shop-dev", "values", "44"));
  ASSERT_TRUE(eventually([&] {
    const ObjectPtr o = informer.store()->get("shop-dev/values");
    return o && resourceVersionOf(*o) == "44";
  }));
  EXPECT_EQ(informer.store()->get("kube-system/another"), nullptr);
  EXPECT_EQ(informer.store()->get("shop-dev/values")->dump().find("c2VjcmV0"), std::string::npos);
  EXPECT_EQ(informer.store()->size(), 1u);
  informer.stop();
}

// A Secret that arrived before its namespace was an Environment's (an adopted namespace) is
// picked up once it is, from a list of that namespace alone; and dropped when it stops being one.
TEST(InformerKeepTest,
     ARecheckPicksUpWhatArrivedBeforeItsNamespaceCountedAndDropsWhatNoLongerDoes) {
  auto server = std::make_shared<ScriptedApiServer>();
  server->setList(
      "/api/v1/secrets",
      listOf({secretMeta("later", "values", "40"), secretMeta("other", "x", "41")}, "42"));
  server->setList("/api/v1/namespaces/later/secrets",
                  listOf({secretMeta("later", "values", "40")}, "45"));
  auto namespaces = std::make_shared<Store>();
  Informer informer(std::make_shared<kube::Client>(server),
                    {.resource = kube::resources::secrets(),
                     .metadataOnly = true,
                     .keep = app::inEnvironmentNamespaceOrMadeByHelm(namespaces),
                     .transform = app::stripManagedFieldsAndLastApplied});
  auto recorded = std::make_shared<Recorded>();
  informer.addHandler([recorded](const Delta& d) {
    std::lock_guard lock(recorded->mu);
    recorded->deltas.push_back(d);
  });
  informer.start();
  ASSERT_TRUE(eventually([&] { return informer.hasSynced(); }));
  ASSERT_TRUE(eventually([&] { return server->count("WATCH", "/api/v1/secrets") == 1; }));
  EXPECT_EQ(informer.store()->size(), 0u);

  namespaces->upsert(environmentNamespace("later"));
  informer.recheckNamespace("later");
  ASSERT_TRUE(eventually([&] { return informer.store()->get("later/values") != nullptr; }));
  EXPECT_TRUE(recorded->saw(Delta::Type::kAdded, "later/values"));
  EXPECT_EQ(informer.store()->get("later/values")->dump().find("c2VjcmV0"), std::string::npos);
  // The watch resumed from where it was: no relist of the whole cluster's Secrets.
  ASSERT_TRUE(eventually([&] { return server->count("WATCH", "/api/v1/secrets") == 2; }));
  EXPECT_EQ(server->count("LIST", "/api/v1/secrets"), 1);
  EXPECT_EQ(server->count("LIST", "/api/v1/namespaces/later/secrets"), 1);
  const auto requests = server->requests();
  EXPECT_NE(requests.back().pathAndQuery.find("resourceVersion=42"), std::string::npos);
  // Later changes still arrive on top.
  server->push("MODIFIED", secretMeta("later", "values", "46"));
  ASSERT_TRUE(eventually([&] {
    const ObjectPtr o = informer.store()->get("later/values");
    return o && resourceVersionOf(*o) == "46";
  }));

  namespaces->remove(environmentNamespace("later"));
  informer.recheckNamespace("later");
  ASSERT_TRUE(eventually([&] { return informer.store()->size() == 0; }));
  EXPECT_TRUE(recorded->saw(Delta::Type::kDeleted, "later/values"));
  informer.stop();
}

// A namespace envop has just made holds nothing the informer refused: a recheck of it has
// nothing to find, so it neither lists nor ends the open watch (1,000 new namespaces made as
// many lists and watch restarts of every informer that keeps by namespace).
TEST(InformerKeepTest, ARecheckOfANamespaceWithNothingRefusedNeitherListsNorRestartsTheWatch) {
  auto server = std::make_shared<ScriptedApiServer>();
  server->setList("/api/v1/secrets", listOf({secretMeta("other", "x", "41")}, "42"));
  auto namespaces = std::make_shared<Store>();
  Informer informer(std::make_shared<kube::Client>(server),
                    {.resource = kube::resources::secrets(),
                     .metadataOnly = true,
                     .keep = app::inEnvironmentNamespaceOrMadeByHelm(namespaces)});
  informer.start();
  ASSERT_TRUE(eventually([&] { return informer.hasSynced(); }));
  ASSERT_TRUE(eventually([&] { return server->count("WATCH", "/api/v1/secrets") == 1; }));

  namespaces->upsert(environmentNamespace("fresh"));
  informer.recheckNamespace("fresh");
  server->push("ADDED", secretMeta("fresh", "values", "43"));
  ASSERT_TRUE(eventually([&] { return informer.store()->get("fresh/values") != nullptr; }));
  EXPECT_EQ(server->count("LIST", "/api/v1/namespaces/fresh/secrets"), 0);
  EXPECT_EQ(server->count("WATCH", "/api/v1/secrets"), 1);
  informer.stop();
}

TEST(InformerKeepTest, ARecheckBeforeStartDoesNothing) {
  auto server = std::make_shared<ScriptedApiServer>();
  Informer informer(std::make_shared<kube::Client>(server),
                    {.resource = kube::resources::secrets()});
  informer.recheckNamespace("later");
  EXPECT_TRUE(server->requests().empty());
}

}  // namespace
}  // namespace envop::runtime
