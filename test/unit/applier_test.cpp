#include "controller/environment/applier.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <mutex>

#include "controller/environment/spec.h"
#include "test/fakes/scripted_transport.h"

namespace envop::environment {
namespace {

using kube::Json;
namespace res = kube::resources;

using fakes::ScriptedTransport;

const Json kQuotaFields = {
    {"f:metadata",
     {{"f:labels", {{".", Json::object()}, {"f:envop.io/environment", Json::object()}}}}},
    {"f:spec", {{"f:hard", {{".", Json::object()}, {"f:pods", Json::object()}}}}}};

Json desiredQuota() {
  return {{"apiVersion", "v1"},
          {"kind", "ResourceQuota"},
          {"metadata",
           {{"name", "envop-quota"},
            {"namespace", "pro"},
            {"labels", {{"envop.io/environment", "pro"}}}}},
          {"spec", {{"hard", {{"pods", "10"}}}}}};
}

// The quota as the API server holds it: envop's Apply entry with `fields`, and any others.
Json liveQuota(const std::string& resourceVersion, const Json& fields, Json used = {{"pods", "0"}},
               Json others = Json::array()) {
  Json object = desiredQuota();
  object["metadata"]["resourceVersion"] = resourceVersion;
  Json managed = std::move(others);
  if (!fields.is_null()) {
    managed.push_back({{"manager", "envop"}, {"operation", "Apply"}, {"fieldsV1", fields}});
  }
  managed.push_back({{"manager", "kube-controller-manager"},
                     {"operation", "Update"},
                     {"subresource", "status"},
                     {"fieldsV1", {{"f:status", {{"f:used", Json::object()}}}}}});
  object["metadata"]["managedFields"] = managed;
  object["status"] = {{"hard", {{"pods", "10"}}}, {"used", used}};
  return object;
}

kube::HttpResponse ok(const Json& body) { return {.status = 200, .body = body.dump()}; }

kube::HttpResponse conflict(const std::string& field, const std::string& manager) {
  const Json status = {{"kind", "Status"},
                       {"apiVersion", "v1"},
                       {"status", "Failure"},
                       {"message", "Apply failed with 1 conflict: conflict with \"" + manager +
                                       "\" using v1: " + field},
                       {"reason", "Conflict"},
                       {"details",
                        {{"causes",
                          {{{"reason", "FieldManagerConflict"},
                            {"message", "conflict with \"" + manager + "\" using v1"},
                            {"field", field}}}}}},
                       {"code", 409}};
  return {.status = 409, .body = status.dump()};
}

bool forced(const kube::HttpRequest& r) {
  return r.pathAndQuery.find("force=true") != std::string::npos;
}

TEST(AppliedFields, IsEnvopsApplyEntryOnly) {
  Json object = liveQuota("5", kQuotaFields);
  EXPECT_EQ(appliedFields(object), kQuotaFields);
  object["metadata"]["managedFields"][0]["operation"] = "Update";  // envop's, but not an apply
  EXPECT_TRUE(appliedFields(object).is_null());
  EXPECT_TRUE(appliedFields(desiredQuota()).is_null());
}

TEST(FieldPaths, RenderAsTheApiServerPrintsConflicts) {
  const Json fields = {
      {"f:metadata",
       {{"f:labels", {{".", Json::object()}, {"f:app.kubernetes.io/managed-by", Json::object()}}}}},
      {"f:spec",
       {{"f:ports",
         {{".", Json::object()},
          {"k:{\"port\":80,\"protocol\":\"TCP\"}",
           {{".", Json::object()}, {"f:port", Json::object()}}}}},
        {"f:finalizers", {{"v:\"kubernetes\"", Json::object()}}},
        {"f:limits", {{"i:0", Json::object()}}}}}};
  const std::set<std::string> paths = fieldPaths(fields);
  for (const char* expected :
       {".metadata", ".metadata.labels", ".metadata.labels.app.kubernetes.io/managed-by",
        ".spec.ports[port=80,protocol=\"TCP\"]", ".spec.ports[port=80,protocol=\"TCP\"].port",
        ".spec.finalizers[=\"kubernetes\"]", ".spec.limits[0]"}) {
    EXPECT_EQ(paths.count(expected), 1u) << expected;
  }
  EXPECT_EQ(paths.size(), 11u);
}

TEST(FieldConflicts, NameTheFieldAndTheManager) {
  const kube::HttpResponse r = conflict(".metadata.labels.team", "kubectl-edit");
  const kube::ApiError error = kube::fromResponse(r.status, r.body);
  const std::vector<FieldConflict> conflicts = fieldConflicts(error);
  ASSERT_EQ(conflicts.size(), 1u);
  EXPECT_EQ(conflicts[0], (FieldConflict{".metadata.labels.team", "kubectl-edit"}));
  EXPECT_EQ(describeConflicts(conflicts),
            "field .metadata.labels.team is owned by \"kubectl-edit\"");
  EXPECT_TRUE(fieldConflicts(kube::fromResponse(404, "")).empty());
}

class ApplierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    transport_ = std::make_shared<ScriptedTransport>([this](const kube::HttpRequest& r) {
      return handler_ ? handler_(r) : ok(liveQuota("1", kQuotaFields));
    });
    applier_ = std::make_unique<Applier>(
        std::make_shared<kube::Client>(transport_),
        std::map<std::string, runtime::StorePtr>{{"resourcequotas", quotas_}});
  }
  // After a first apply: the drift was confirmed by a read and repaired by one apply.
  void expectReadThenRepaired(const ApplyOutcome& outcome) {
    EXPECT_TRUE(outcome.wrote);
    EXPECT_TRUE(outcome.repairedDrift);
    const auto requests = transport_->requests();
    ASSERT_EQ(requests.size(), 3u);
    EXPECT_EQ(requests[1].method, "GET");
    EXPECT_EQ(requests[2].method, "PATCH");
  }

  std::shared_ptr<ScriptedTransport> transport_;
  ScriptedTransport::Handler handler_;
  // Indexed like the controller's informers of what envop owns (ownedBy reads the index).
  runtime::StorePtr quotas_ = std::make_shared<runtime::Store>(std::string(kEnvironmentLabel));
  std::unique_ptr<Applier> applier_;
};

TEST_F(ApplierTest, OwnedByFindsOneEnvironmentsObjectsWithOrWithoutTheIndex) {
  auto quota = [](const std::string& ns, const std::string& owner) {
    Json q = liveQuota("1", kQuotaFields);
    q["metadata"]["namespace"] = ns;
    q["metadata"]["labels"][std::string(kEnvironmentLabel)] = owner;
    return q;
  };
  auto unindexed = std::make_shared<runtime::Store>();
  for (const runtime::StorePtr& store : {quotas_, unindexed}) {
    store->upsert(quota("pro", "pro"));
    store->upsert(quota("pro-ext", "pro"));
    store->upsert(quota("test", "test"));
  }
  for (const runtime::StorePtr& store : {quotas_, unindexed}) {
    Applier applier(std::make_shared<kube::Client>(transport_), {{"resourcequotas", store}});
    std::vector<std::string> namespaces;
    for (const runtime::ObjectPtr& o : applier.ownedBy(res::resourceQuotas(), "pro")) {
      namespaces.push_back(kube::namespaceOf(*o));
    }
    std::sort(namespaces.begin(), namespaces.end());
    EXPECT_EQ(namespaces, (std::vector<std::string>{"pro", "pro-ext"}));
    EXPECT_EQ(applier.ownedBy(res::resourceQuotas(), "test").size(), 1u);
    EXPECT_TRUE(applier.ownedBy(res::resourceQuotas(), "dev").empty());
    EXPECT_TRUE(applier.ownedBy(res::limitRanges(), "pro").empty()) << "a kind without a store";
  }
}

TEST_F(ApplierTest, StatusAndOtherManagersChangingTheObjectIsNoDrift) {
  ASSERT_FALSE(applier_->apply(res::resourceQuotas(), desiredQuota()).error);
  ASSERT_EQ(transport_->requests().size(), 1u);
  // The quota controller counts pods: a new resourceVersion, envop's fields untouched.
  quotas_->upsert(liveQuota("2", kQuotaFields, {{"pods", "5"}}));
  ApplyOutcome outcome = applier_->apply(res::resourceQuotas(), desiredQuota());
  EXPECT_FALSE(outcome.wrote);
  EXPECT_FALSE(outcome.repairedDrift);
  // A label someone else added is theirs, not drift either.
  const Json labelled = {{"manager", "kubectl-label"},
                         {"operation", "Update"},
                         {"fieldsV1", {{"f:metadata", {{"f:labels", {{"f:x", Json::object()}}}}}}}};
  quotas_->upsert(liveQuota("3", kQuotaFields, {{"pods", "5"}}, Json::array({labelled})));
  outcome = applier_->apply(res::resourceQuotas(), desiredQuota());
  EXPECT_FALSE(outcome.wrote);
  EXPECT_EQ(transport_->requests().size(), 1u) << "no read, no write";
}

TEST_F(ApplierTest, AFieldEnvopAppliedTakenByAHumanIsDriftRepairedByForce) {
  ASSERT_FALSE(applier_->apply(res::resourceQuotas(), desiredQuota()).error);
  // kubectl edit of spec.hard.pods: the editor owns it now, envop's set lost it.
  Json fields = kQuotaFields;
  fields["f:spec"]["f:hard"].erase("f:pods");
  const Json edited = liveQuota("2", fields);
  quotas_->upsert(edited);
  handler_ = [&](const kube::HttpRequest& r) {
    return r.method == "GET" ? ok(edited) : ok(liveQuota("3", kQuotaFields));
  };
  expectReadThenRepaired(applier_->apply(res::resourceQuotas(), desiredQuota()));
  EXPECT_TRUE(forced(transport_->requests()[2])) << "envop made the quota: its fields are envop's";
}

TEST_F(ApplierTest, ACacheBehindEnvopsOwnWriteIsNoDriftAndCostsNoRead) {
  quotas_->upsert(liveQuota("0", nullptr));  // the cache from before envop's first apply
  ASSERT_FALSE(applier_->apply(res::resourceQuotas(), desiredQuota()).error);
  EXPECT_TRUE(applier_->awaitingCache(res::resourceQuotas(), desiredQuota()));
  Json other = desiredQuota();
  other["spec"]["hard"]["pods"] = "11";
  EXPECT_FALSE(applier_->awaitingCache(res::resourceQuotas(), other)) << "not what was applied";
  // Still the object from before the write: behind, and the write's event is on its way.
  ApplyOutcome outcome = applier_->apply(res::resourceQuotas(), desiredQuota());
  EXPECT_FALSE(outcome.wrote);
  EXPECT_FALSE(outcome.repairedDrift);
  EXPECT_EQ(transport_->requests().size(), 1u) << "no read, no write";

  // The event arrives: the cache shows envop's write.
  const auto seen = quotas_->upsert(liveQuota("1", kQuotaFields));
  applier_->observe(res::resourceQuotas(), *seen);
  EXPECT_FALSE(applier_->awaitingCache(res::resourceQuotas(), desiredQuota()));
  outcome = applier_->apply(res::resourceQuotas(), desiredQuota());
  EXPECT_FALSE(outcome.wrote);
  EXPECT_EQ(transport_->requests().size(), 1u);

  // Deleted by a human once the cache had seen it: a read confirms, and it is put back.
  const auto gone = quotas_->remove(liveQuota("2", kQuotaFields));
  applier_->observe(res::resourceQuotas(), *gone);
  handler_ = [](const kube::HttpRequest& r) {
    return r.method == "GET"
               ? kube::HttpResponse{.status = 404, .body = R"({"kind":"Status","code":404})"}
               : ok(liveQuota("3", kQuotaFields));
  };
  expectReadThenRepaired(applier_->apply(res::resourceQuotas(), desiredQuota()));
}

TEST_F(ApplierTest, ACreatedObjectTheCacheHasNotSeenIsNotReadAgain) {
  EXPECT_FALSE(applier_->applied(res::resourceQuotas(), "pro", "envop-quota"));
  ASSERT_FALSE(applier_->apply(res::resourceQuotas(), desiredQuota()).error);
  EXPECT_TRUE(applier_->applied(res::resourceQuotas(), "pro", "envop-quota"));
  EXPECT_FALSE(applier_->apply(res::resourceQuotas(), desiredQuota()).wrote);
  EXPECT_EQ(transport_->requests().size(), 1u);
  // A kind without an informer cannot say: it is read.
  Applier uncached(std::make_shared<kube::Client>(transport_), {});
  ASSERT_FALSE(uncached.apply(res::resourceQuotas(), desiredQuota()).error);
  EXPECT_FALSE(uncached.apply(res::resourceQuotas(), desiredQuota()).wrote);
  const auto requests = transport_->requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[2].method, "GET");
}

TEST_F(ApplierTest, AFieldEnvopNeverOwnedIsLeftToItsOwnerAndReported) {
  handler_ = [](const kube::HttpRequest& r) {
    return forced(r) ? ok(liveQuota("9", kQuotaFields))
                     : conflict(".metadata.labels.envop.io/environment", "kubectl-create");
  };
  const ApplyOutcome outcome =
      applier_->apply(res::resourceQuotas(), desiredQuota(), {.envopCreated = false});
  ASSERT_TRUE(outcome.error);
  ASSERT_EQ(outcome.conflicts.size(), 1u);
  EXPECT_EQ(outcome.conflicts[0].manager, "kubectl-create");
  const auto requests = transport_->requests();
  ASSERT_EQ(requests.size(), 1u) << "no forced retry";
  EXPECT_FALSE(forced(requests[0]));
}

TEST_F(ApplierTest, OnAnAdoptedObjectOnlyFieldsEnvopOwnedAreTakenBack) {
  handler_ = [](const kube::HttpRequest&) { return ok(liveQuota("1", kQuotaFields)); };
  ASSERT_FALSE(
      applier_->apply(res::resourceQuotas(), desiredQuota(), {.envopCreated = false}).error);
  // Someone took spec.hard.pods, which envop had applied: envop takes it back.
  quotas_->upsert(liveQuota("2", nullptr));
  handler_ = [](const kube::HttpRequest& r) {
    if (r.method == "GET") return ok(liveQuota("2", nullptr));
    return forced(r) ? ok(liveQuota("3", kQuotaFields))
                     : conflict(".spec.hard.pods", "kubectl-edit");
  };
  const ApplyOutcome outcome =
      applier_->apply(res::resourceQuotas(), desiredQuota(), {.envopCreated = false});
  EXPECT_FALSE(outcome.error);
  EXPECT_TRUE(outcome.repairedDrift);
  const auto requests = transport_->requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_FALSE(forced(requests[2]));
  EXPECT_TRUE(forced(requests[3]));
}

// deletionPolicy Retain: what production does to let go of an object (not an apply of it
// without labels): a merge patch that removes exactly envop's two ownership labels and
// touches nothing else, the spec included.
TEST_F(ApplierTest, RetainLetsGoByRemovingOnlyEnvopsOwnershipLabels) {
  const ApplyOutcome outcome = applier_->disown(res::resourceQuotas(), "pro", "envop-quota");
  EXPECT_FALSE(outcome.error);
  const auto requests = transport_->requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "PATCH");
  EXPECT_EQ(requests[0].contentType, "application/merge-patch+json");
  EXPECT_EQ(requests[0].pathAndQuery.substr(0, requests[0].pathAndQuery.find('?')),
            "/api/v1/namespaces/pro/resourcequotas/envop-quota");
  EXPECT_EQ(
      Json::parse(requests[0].body),
      (Json{{"metadata",
             {{"labels",
               {{"app.kubernetes.io/managed-by", nullptr}, {"envop.io/environment", nullptr}}}}}}));
}

}  // namespace
}  // namespace envop::environment
