// Observe-only (a suspended Environment): what differs from the spec is found and named, a
// value only spelt differently is not, and nothing is written.
#include "controller/environment/observer.h"

#include <gtest/gtest.h>

#include <functional>
#include <mutex>

#include "controller/environment/part_report.h"
#include "test/fakes/scripted_transport.h"

namespace envop::environment {
namespace {

using kube::Json;
namespace res = kube::resources;

using fakes::ScriptedTransport;

kube::HttpResponse ok(const Json& body) { return {.status = 200, .body = body.dump()}; }
kube::HttpResponse notFound() {
  return {.status = 404,
          .body = Json{{"kind", "Status"}, {"code", 404}, {"reason", "NotFound"}}.dump()};
}

Json quota(Json hard) {
  return {{"apiVersion", "v1"},
          {"kind", "ResourceQuota"},
          {"metadata",
           {{"name", "envop-quota"},
            {"namespace", "pro"},
            {"labels", {{"envop.io/environment", "pro"}}}}},
          {"spec", {{"hard", std::move(hard)}}}};
}

// As the API server holds it: defaults, others' labels, status, resourceVersion.
Json live(Json hard) {
  Json object = quota(std::move(hard));
  object["metadata"]["labels"]["team"] = "a";
  object["metadata"]["resourceVersion"] = "7";
  object["status"] = {{"used", {{"pods", "3"}}}};
  return object;
}

TEST(FirstUncovered, ExtraFieldsLiveAreNoDifference) {
  EXPECT_EQ(firstUncovered(quota({{"pods", "10"}}), live({{"pods", "10"}})), std::nullopt);
  const Json desired = {{"spec", {{"ports", {{{"port", 80}}}}}}};
  const Json defaulted = {{"spec", {{"ports", {{{"port", 80}, {"targetPort", 80}}}}}}};
  EXPECT_EQ(firstUncovered(desired, defaulted), std::nullopt);
}

TEST(FirstUncovered, NamesTheFirstFieldThatDiffers) {
  EXPECT_EQ(firstUncovered(quota({{"pods", "10"}}), live({{"pods", "7"}})), ".spec.hard.pods");
  EXPECT_EQ(firstUncovered(quota({{"pods", "10"}}), live({{"cpu", "1"}})), ".spec.hard.pods");
  const Json twoPorts = {{"spec", {{"ports", {{{"port", 80}}, {{"port", 81}}}}}}};
  const Json onePort = {{"spec", {{"ports", {{{"port", 80}}}}}}};
  EXPECT_EQ(firstUncovered(twoPorts, onePort), ".spec.ports");
}

TEST(FirstUncovered, AnEmptySelectorMeansEmptyButEmptyMetadataMapsAssertNothing) {
  // `podSelector: {}` selects every pod; one narrowed by hand is drift.
  const Json desired = {{"metadata", {{"annotations", Json::object()}}},
                        {"spec", {{"podSelector", Json::object()}}}};
  Json narrowed = {{"metadata", {{"annotations", {{"by", "someone"}}}}},
                   {"spec", {{"podSelector", {{"matchLabels", {{"opened", "by-hand"}}}}}}}};
  EXPECT_EQ(firstUncovered(desired, narrowed), ".spec.podSelector");
  narrowed["spec"]["podSelector"] = Json::object();
  EXPECT_EQ(firstUncovered(desired, narrowed), std::nullopt);
}

TEST(FirstDifference, ComparesOnlyWhatTheDesiredObjectSets) {
  const Json desired = quota({{"cpu", "0.5"}});
  EXPECT_EQ(firstDifference(desired, live({{"cpu", "500m"}}), live({{"cpu", "500m"}})),
            std::nullopt);
  EXPECT_EQ(firstDifference(desired, live({{"cpu", "500m"}}), live({{"cpu", "1"}})),
            ".spec.hard.cpu");
}

class ObserveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    transport_ = std::make_shared<ScriptedTransport>(
        [this](const kube::HttpRequest& r) { return handler_(r); });
    applier_ = std::make_unique<Applier>(std::make_shared<kube::Client>(transport_),
                                         std::map<std::string, runtime::StorePtr>{});
  }
  // Every request was a read or a dry run: observing writes nothing.
  void expectNothingWritten() {
    for (const kube::HttpRequest& r : transport_->requests()) {
      EXPECT_TRUE(r.method == "GET" || r.pathAndQuery.find("dryRun=All") != std::string::npos)
          << r.method << " " << r.pathAndQuery;
    }
  }
  std::shared_ptr<ScriptedTransport> transport_;
  ScriptedTransport::Handler handler_;
  std::unique_ptr<Applier> applier_;
};

TEST_F(ObserveTest, AMissingObjectIsReportedNotCreated) {
  handler_ = [](const kube::HttpRequest&) { return notFound(); };
  PartReport report(kPartNamespace);
  observeTracked(*applier_, res::resourceQuotas(), quota({{"pods", "10"}}), report);
  concludeObservation(report);
  EXPECT_EQ(report.state, PartOutcome::State::kProgressing);
  EXPECT_EQ(report.reason, "DriftDetected");
  EXPECT_NE(report.message.find("ResourceQuota pro/envop-quota is missing"), std::string::npos)
      << report.message;
  EXPECT_NE(report.message.find("spec.suspend"), std::string::npos) << report.message;
  expectNothingWritten();
}

TEST_F(ObserveTest, AnObjectAsSpecifiedIsReadyWithoutADryRun) {
  handler_ = [](const kube::HttpRequest&) { return ok(live({{"pods", "10"}})); };
  PartReport report(kPartNamespace);
  observeTracked(*applier_, res::resourceQuotas(), quota({{"pods", "10"}}), report);
  concludeObservation(report);
  EXPECT_EQ(report.state, PartOutcome::State::kReady) << report.message;
  ASSERT_EQ(transport_->requests().size(), 1u);
  EXPECT_EQ(transport_->requests()[0].method, "GET");
}

TEST_F(ObserveTest, AValueOnlySpeltDifferentlyIsNoDrift) {
  handler_ = [](const kube::HttpRequest& r) {
    // The API server stores quantities canonically.
    return r.method == "GET" ? ok(live({{"cpu", "500m"}})) : ok(live({{"cpu", "500m"}}));
  };
  const Observation seen = observe(*applier_, res::resourceQuotas(), quota({{"cpu", "0.5"}}));
  EXPECT_FALSE(seen.drifted()) << seen.difference;
  ASSERT_EQ(transport_->requests().size(), 2u);
  const kube::HttpRequest dryRun = transport_->requests()[1];
  EXPECT_EQ(dryRun.method, "PUT");
  EXPECT_NE(dryRun.pathAndQuery.find("dryRun=All"), std::string::npos) << dryRun.pathAndQuery;
  // The live object with the spec's fields in it, unguarded: a simulation needs no guard.
  const Json body = Json::parse(dryRun.body);
  EXPECT_EQ(body["spec"]["hard"]["cpu"], "0.5");
  EXPECT_EQ(body["metadata"]["labels"]["team"], "a");
  EXPECT_FALSE(body["metadata"].contains("resourceVersion"));
  expectNothingWritten();
}

TEST_F(ObserveTest, AChangedFieldIsNamed) {
  handler_ = [](const kube::HttpRequest& r) {
    return r.method == "GET" ? ok(live({{"pods", "7"}})) : ok(live({{"pods", "10"}}));
  };
  PartReport report(kPartNamespace);
  observeTracked(*applier_, res::resourceQuotas(), quota({{"pods", "10"}}), report);
  concludeObservation(report);
  EXPECT_EQ(report.state, PartOutcome::State::kProgressing);
  EXPECT_NE(report.message.find("ResourceQuota pro/envop-quota differs from the spec at "
                                ".spec.hard.pods"),
            std::string::npos)
      << report.message;
  expectNothingWritten();
}

TEST_F(ObserveTest, AReadErrorFailsThePart) {
  handler_ = [](const kube::HttpRequest&) {
    return kube::HttpResponse{
        .status = 500, .body = Json{{"kind", "Status"}, {"code", 500}, {"message", "etcd"}}.dump()};
  };
  PartReport report(kPartNamespace);
  observeTracked(*applier_, res::resourceQuotas(), quota({{"pods", "10"}}), report);
  EXPECT_EQ(report.state, PartOutcome::State::kFailed);
  EXPECT_EQ(report.reason, "ObserveFailed");
}

}  // namespace
}  // namespace envop::environment
