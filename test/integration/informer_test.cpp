// The informer against a real control plane, including what real clusters do to
// watches: etcd compaction and an apiserver that restarts under them.
#include "controller/runtime/informer.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <set>

#include "controller/kube/config.h"
#include "test/support/clients.h"
#include "test/support/local_cluster.h"

namespace envop::testing {
namespace {

using kube::Json;
namespace res = kube::resources;
using namespace std::chrono_literals;

// Watches the informer's store through its handler and lets a test wait, bounded,
// until a predicate over the set of cached names holds.
class Observer {
 public:
  explicit Observer(runtime::Informer& informer) : store_(informer.store()) {
    informer.addHandler([this](const runtime::Delta&) {
      std::lock_guard lock(mu_);
      ++deltas_;
      changed_.notify_all();
    });
  }
  bool waitFor(const std::function<bool(const std::set<std::string>&)>& done,
               std::chrono::seconds limit = 60s) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, limit, [&] { return done(names()); });
  }
  std::set<std::string> names() const {
    std::set<std::string> out;
    for (const auto& object : store_->list()) out.insert(kube::nameOf(*object));
    return out;
  }

 private:
  runtime::StorePtr store_;
  std::mutex mu_;
  std::condition_variable changed_;
  int deltas_ = 0;
};

bool containsAll(const std::set<std::string>& have, const std::vector<std::string>& want) {
  for (const auto& w : want) {
    if (!have.count(w)) return false;
  }
  return true;
}

void createConfigMap(kube::Client& client, const std::string& ns, const std::string& name) {
  auto r = client.create(res::configMaps(), {{"apiVersion", "v1"},
                                             {"kind", "ConfigMap"},
                                             {"metadata", {{"name", name}, {"namespace", ns}}}});
  if (!r) throw std::runtime_error(r.error().describe());
}

void createNamespace(kube::Client& client, const std::string& ns) {
  auto r =
      client.create(res::namespaces(),
                    {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
  if (!r) throw std::runtime_error(r.error().describe());
}

TEST(InformerTest, CachesAndFollowsAddsUpdatesAndDeletes) {
  auto client = clientFor(LocalCluster::get().kubeconfig());
  const std::string ns = uniqueName("informer");
  createNamespace(*client, ns);
  createConfigMap(*client, ns, "before");

  runtime::Informer informer(client, {.resource = res::configMaps(), .namespace_ = ns});
  Observer observer(informer);
  informer.start();
  ASSERT_TRUE(observer.waitFor([](const auto& names) { return names.count("before") > 0; }));
  EXPECT_TRUE(informer.hasSynced());

  createConfigMap(*client, ns, "after");
  ASSERT_TRUE(observer.waitFor([](const auto& names) { return names.count("after") > 0; }));
  ASSERT_TRUE(client->remove(res::configMaps(), ns, "before"));
  EXPECT_TRUE(observer.waitFor([](const auto& names) { return names.count("before") == 0; }));
  informer.stop();
  (void)client->remove(res::namespaces(), "", ns);
}

TEST(InformerTest, MissesNothingAcrossEtcdCompactionAndApiserverRestart) {
  ScopedCluster cluster;
  auto client = clientFor(cluster.kubeconfig());
  const std::string ns = "compaction";
  createNamespace(*client, ns);
  createConfigMap(*client, ns, "seed");  // the first list delivers a delta to wait on

  // Short watches, so the informer re-watches from its last resourceVersion often.
  runtime::Informer informer(client, {.resource = res::configMaps(),
                                      .namespace_ = ns,
                                      .watch = {.minWatchTimeout = 2s, .maxWatchTimeout = 3s}});
  Observer observer(informer);
  informer.start();
  ASSERT_TRUE(observer.waitFor([](const auto& names) { return names.count("seed") > 0; }));
  ASSERT_TRUE(informer.hasSynced());

  std::vector<std::string> want;
  for (int i = 0; i < 5; ++i) {
    want.push_back("before-compaction-" + std::to_string(i));
    createConfigMap(*client, ns, want.back());
  }
  // Compact etcd to its current revision through its v3 JSON gateway.
  const std::string etcd = cluster.value("ETCD_ENDPOINT");
  CommandResult range =
      runCommand({"curl", "-sf", "-X", "POST", etcd + "/v3/kv/range", "-d", R"({"key":"Lw=="})"});
  ASSERT_EQ(range.exitCode, 0) << range.err;
  const std::string revision = Json::parse(range.out)["header"]["revision"];
  CommandResult compact = runCommand({"curl", "-sf", "-X", "POST", etcd + "/v3/kv/compaction", "-d",
                                      R"({"revision":")" + revision + R"(","physical":true})"});
  ASSERT_EQ(compact.exitCode, 0) << compact.err;
  for (int i = 0; i < 5; ++i) {
    want.push_back("after-compaction-" + std::to_string(i));
    createConfigMap(*client, ns, want.back());
  }
  ASSERT_TRUE(observer.waitFor([&](const auto& names) { return containsAll(names, want); }))
      << "the informer lost objects across the compaction";

  // The apiserver dies under the open watch (SIGKILL) and comes back with an empty
  // watch cache; objects created and deleted meanwhile must be seen.
  cluster.restart("kube-apiserver");
  auto removed = client->remove(res::configMaps(), ns, "before-compaction-0");
  ASSERT_TRUE(removed) << removed.error().describe();
  for (int i = 0; i < 3; ++i) {
    want.push_back("after-restart-" + std::to_string(i));
    createConfigMap(*client, ns, want.back());
  }
  want.erase(want.begin());
  EXPECT_TRUE(observer.waitFor([&](const auto& names) {
    return containsAll(names, want) && names.count("before-compaction-0") == 0;
  })) << "the informer did not recover from the apiserver restart";
  informer.stop();
}

}  // namespace
}  // namespace envop::testing
