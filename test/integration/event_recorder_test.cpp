// The event recorder against a real kube-apiserver: the Events it writes pass events.k8s.io/v1
// validation, land in the right namespace and aggregate repeats into one series.
#include "controller/runtime/event_recorder.h"

#include <gtest/gtest.h>

#include "controller/kube/config.h"
#include "test/support/clients.h"
#include "test/support/local_cluster.h"

namespace envop::testing {
namespace {

using kube::Json;
namespace res = kube::resources;

class EventRecorderIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = adminClient();
    ns_ = uniqueName("events");
    auto created = client_->create(
        res::namespaces(),
        {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns_}}}});
    ASSERT_TRUE(created) << created.error().describe();
    namespace_ = created.value();
    auto cm = client_->create(res::configMaps(),
                              {{"apiVersion", "v1"},
                               {"kind", "ConfigMap"},
                               {"metadata", {{"name", "settings"}, {"namespace", ns_}}},
                               {"data", {{"stage", "pro"}}}});
    ASSERT_TRUE(cm) << cm.error().describe();
    configMap_ = cm.value();
  }
  void TearDown() override { (void)client_->remove(res::namespaces(), "", ns_); }

  // The Events in `ns` about the object named `name`.
  std::vector<Json> eventsAbout(const std::string& ns, const std::string& name) {
    auto list = client_->list(res::events(), ns, {.fieldSelector = "regarding.name=" + name});
    EXPECT_TRUE(list) << list.error().describe();
    return list ? list.value().items : std::vector<Json>{};
  }

  kube::ClientPtr client_;
  std::string ns_;
  Json namespace_;
  Json configMap_;
};

TEST_F(EventRecorderIntegrationTest, RecordsAnEventAboutANamespacedObjectInItsNamespace) {
  runtime::EventRecorder recorder(client_);
  recorder.record(configMap_, "Warning", "ApplyFailed", "Apply", "chart pull failed: 503");
  ASSERT_TRUE(recorder.flush());
  EXPECT_EQ(recorder.failedWrites(), 0u);

  auto events = eventsAbout(ns_, "settings");
  ASSERT_EQ(events.size(), 1u);
  const Json& e = events[0];
  EXPECT_EQ(e["reason"], "ApplyFailed");
  EXPECT_EQ(e["note"], "chart pull failed: 503");
  EXPECT_EQ(e["type"], "Warning");
  EXPECT_EQ(e["action"], "Apply");
  EXPECT_EQ(e["reportingController"], "envop.io/envop-controller");
  EXPECT_FALSE(e["reportingInstance"].get<std::string>().empty());
  EXPECT_EQ(e["regarding"]["kind"], "ConfigMap");
  EXPECT_EQ(e["regarding"]["uid"], configMap_["metadata"]["uid"]);
  EXPECT_FALSE(e.contains("series"));
}

TEST_F(EventRecorderIntegrationTest, EventsAboutAClusterScopedObjectLandInDefault) {
  runtime::EventRecorder recorder(client_);
  recorder.record(namespace_, "Normal", "Created", "Reconcile", "namespace " + ns_ + " ready");
  ASSERT_TRUE(recorder.flush());
  EXPECT_EQ(recorder.failedWrites(), 0u);

  auto events = eventsAbout("default", ns_);
  ASSERT_EQ(events.size(), 1u);
  const Json& e = events[0];
  EXPECT_EQ(e["metadata"]["namespace"], "default");
  EXPECT_EQ(e["reason"], "Created");
  EXPECT_EQ(e["note"], "namespace " + ns_ + " ready");
  EXPECT_EQ(e["type"], "Normal");
  EXPECT_EQ(e["reportingController"], "envop.io/envop-controller");
  EXPECT_EQ(e["regarding"]["kind"], "Namespace");
  EXPECT_FALSE(e["regarding"].contains("namespace"));
  (void)client_->remove(res::events(), "default", kube::nameOf(e));
}

TEST_F(EventRecorderIntegrationTest, RepeatsAggregateIntoOneEventWithASeries) {
  runtime::EventRecorder recorder(client_, runtime::kDefaultReportingController, "envop-test-0");
  for (int i = 0; i < 3; ++i) {
    recorder.record(configMap_, "Normal", "Applied", "Apply", "applied 1 object");
  }
  ASSERT_TRUE(recorder.flush());
  EXPECT_EQ(recorder.failedWrites(), 0u);
  EXPECT_EQ(recorder.dropped(), 0u);

  auto events = eventsAbout(ns_, "settings");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["reportingInstance"], "envop-test-0");
  EXPECT_EQ(events[0]["series"]["count"], 3);
  EXPECT_TRUE(events[0]["series"]["lastObservedTime"].is_string());

  // A different note is a different Event; stop() writes it before returning.
  recorder.record(configMap_, "Normal", "Applied", "Apply", "applied 2 objects");
  recorder.stop();
  EXPECT_EQ(eventsAbout(ns_, "settings").size(), 2u);
}

TEST_F(EventRecorderIntegrationTest, A1KiBNoteWithMultiByteCharactersIsAccepted) {
  runtime::EventRecorder recorder(client_);
  recorder.record(configMap_, "Normal", "Applied", "Apply", std::string(2000, '\xe2') + "x");
  recorder.record(configMap_, "Normal", "Applied", "Apply",
                  "\xc3\xa9t\xc3\xa9 " + std::string(1100, 'y'));
  ASSERT_TRUE(recorder.flush());
  EXPECT_EQ(recorder.failedWrites(), 0u);
  auto events = eventsAbout(ns_, "settings");
  ASSERT_EQ(events.size(), 2u);
  for (const Json& e : events) EXPECT_LE(e["note"].get<std::string>().size(), 1024u);
}

}  // namespace
}  // namespace envop::testing
