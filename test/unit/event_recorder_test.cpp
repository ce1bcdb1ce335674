#include "controller/runtime/event_recorder.h"

#include <gtest/gtest.h>
#include <prometheus/metric_family.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

#include "controller/util/metrics.h"

namespace envop::runtime {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using Verb = EventWrite::Verb;

// 2024-05-01T10:00:00Z: every wall time in these tests is derived from it and the FakeClock.
const WallTime kWallStart = std::chrono::system_clock::from_time_t(1714557600);

Json configMap(const std::string& name = "settings", const std::string& ns = "team-a") {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata",
           {{"name", name}, {"namespace", ns}, {"uid", "uid-1"}, {"resourceVersion", "42"}}}};
}

EventOccurrence occurrence(std::string note = "applied 3 objects", const Json& object = configMap(),
                           std::string reason = "Applied") {
  return {regardingOf(object), "Normal", std::move(reason), "Apply", std::move(note)};
}

class EventRecorderCoreTest : public ::testing::Test {
 protected:
  std::shared_ptr<util::FakeClock> clock_ = std::make_shared<util::FakeClock>();
  std::uint64_t nextRandom_ = 0xabc;
  EventAggregator aggregator_{"envop.io/envop-controller", "envop-0", clock_, kWallStart,
                              [this] { return nextRandom_++; }};
};

TEST_F(EventRecorderCoreTest, FirstOccurrenceCreatesAnEvent) {
  clock_->advance(milliseconds(1500));
  auto write = aggregator_.observe(occurrence());
  ASSERT_TRUE(write);
  EXPECT_EQ(write->verb, Verb::kCreate);
  EXPECT_EQ(write->ns, "team-a");
  EXPECT_EQ(write->name, "settings.0000000000000abc");
  const Json expected = {
      {"apiVersion", "events.k8s.io/v1"},
      {"kind", "Event"},
      {"metadata", {{"name", "settings.0000000000000abc"}, {"namespace", "team-a"}}},
      {"eventTime", "2024-05-01T10:00:01.500000Z"},
      {"reportingController", "envop.io/envop-controller"},
      {"reportingInstance", "envop-0"},
      {"action", "Apply"},
      {"reason", "Applied"},
      {"type", "Normal"},
      {"note", "applied 3 objects"},
      {"regarding",
       {{"apiVersion", "v1"},
        {"kind", "ConfigMap"},
        {"name", "settings"},
        {"namespace", "team-a"},
        {"uid", "uid-1"},
        {"resourceVersion", "42"}}}};
  EXPECT_EQ(write->body, expected);
  EXPECT_FALSE(aggregator_.hasPending());
}

TEST_F(EventRecorderCoreTest, ClusterScopedObjectsGetTheirEventsInDefault) {
  const Json environment = {{"apiVersion", "envop.io/v1alpha1"},
                            {"kind", "Environment"},
                            {"metadata", {{"name", "pro"}, {"uid", "u"}}}};
  auto write = aggregator_.observe(occurrence("ready", environment));
  ASSERT_TRUE(write);
  EXPECT_EQ(write->ns, "default");
  EXPECT_EQ(write->body["metadata"]["namespace"], "default");
  EXPECT_FALSE(write->body["regarding"].contains("namespace"));
}

TEST_F(EventRecorderCoreTest, RepeatPatchesTheSeriesOfTheSameEvent) {
  auto first = aggregator_.observe(occurrence());
  clock_->advance(seconds(2));
  auto second = aggregator_.observe(occurrence());
  ASSERT_TRUE(second);
  EXPECT_EQ(second->verb, Verb::kPatchSeries);
  EXPECT_EQ(second->name, first->name);
  EXPECT_EQ(second->ns, "team-a");
  EXPECT_EQ(second->body, Json::parse(R"({"series": {"count": 2,
                              "lastObservedTime": "2024-05-01T10:00:02.000000Z"}})"));
  EXPECT_EQ(second->event["series"]["count"], 2);
  EXPECT_EQ(second->event["eventTime"], first->body["eventTime"]);

  clock_->advance(seconds(5));
  auto third = aggregator_.observe(occurrence());
  ASSERT_TRUE(third);
  EXPECT_EQ(third->body["series"]["count"], 3);
  EXPECT_EQ(aggregator_.size(), 1u);
}

TEST_F(EventRecorderCoreTest, RepeatsWithinTheWriteIntervalAreCoalescedIntoOnePatch) {
  auto first = aggregator_.observe(occurrence());
  for (int i = 0; i < 5; ++i) {
    clock_->advance(milliseconds(100));
    EXPECT_FALSE(aggregator_.observe(occurrence())) << i;
  }
  EXPECT_TRUE(aggregator_.hasPending());
  ASSERT_TRUE(aggregator_.nextDue());
  EXPECT_EQ(*aggregator_.nextDue() - clock_->now(), milliseconds(500));
  EXPECT_TRUE(aggregator_.takeDue().empty());

  clock_->advance(milliseconds(500));
  auto due = aggregator_.takeDue();
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].name, first->name);
  EXPECT_EQ(due[0].body["series"]["count"], 6);
  // lastObservedTime is the last repeat, not the write.
  EXPECT_EQ(due[0].body["series"]["lastObservedTime"], "2024-05-01T10:00:00.500000Z");
  EXPECT_FALSE(aggregator_.hasPending());
  EXPECT_FALSE(aggregator_.nextDue());

  // A repeat just after the coalesced write waits for the next interval.
  clock_->advance(milliseconds(10));
  EXPECT_FALSE(aggregator_.observe(occurrence()));
  EXPECT_TRUE(aggregator_.hasPending());
}

TEST_F(EventRecorderCoreTest, TakeAllPendingWritesCoalescedRepeatsBeforeTheyAreDue) {
  aggregator_.observe(occurrence());
  EXPECT_FALSE(aggregator_.observe(occurrence()));
  EXPECT_FALSE(aggregator_.observe(occurrence()));
  auto all = aggregator_.takeAllPending();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].body["series"]["count"], 3);
  EXPECT_FALSE(aggregator_.hasPending());
}

TEST_F(EventRecorderCoreTest, SixMinutesOfSilenceStartANewEvent) {
  auto first = aggregator_.observe(occurrence());
  clock_->advance(minutes(5) + seconds(59));
  auto repeat = aggregator_.observe(occurrence());
  ASSERT_TRUE(repeat);
  EXPECT_EQ(repeat->verb, Verb::kPatchSeries);

  clock_->advance(minutes(6));
  auto fresh = aggregator_.observe(occurrence());
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->verb, Verb::kCreate);
  EXPECT_NE(fresh->name, first->name);
  EXPECT_FALSE(fresh->body.contains("series"));
  EXPECT_EQ(aggregator_.size(), 1u);
}

TEST_F(EventRecorderCoreTest, DistinctNotesReasonsAndObjectsAreDistinctEvents) {
  auto a = aggregator_.observe(occurrence("applied 3 objects"));
  auto b = aggregator_.observe(occurrence("applied 4 objects"));
  auto c = aggregator_.observe(occurrence("applied 3 objects", configMap(), "ApplyFailed"));
  auto d = aggregator_.observe(occurrence("applied 3 objects", configMap("other")));
  for (const auto* w : {&a, &b, &c, &d}) {
    ASSERT_TRUE(*w);
    EXPECT_EQ((*w)->verb, Verb::kCreate);
  }
  EXPECT_NE(a->name, b->name);
  EXPECT_EQ(aggregator_.size(), 4u);
}

TEST_F(EventRecorderCoreTest, NotesAreCutTo1KiBAtACharacterBoundary) {
  auto write = aggregator_.observe(occurrence(std::string(5000, 'x')));
  ASSERT_TRUE(write);
  EXPECT_EQ(write->body["note"].get<std::string>().size(), kMaxNoteBytes);

  // 1023 ASCII bytes then a 2-byte character: cutting at 1024 would split it.
  const std::string cut = normalizeNote(std::string(1023, 'a') + "\xc3\xa9" + "tail");
  EXPECT_EQ(cut, std::string(1023, 'a'));
  EXPECT_EQ(normalizeNote("caf\xc3\xa9"), "caf\xc3\xa9");
  // Invalid UTF-8 would make the client's JSON serialisation throw.
  EXPECT_EQ(normalizeNote("bad\xff"), "bad\xef\xbf\xbd");
}

TEST_F(EventRecorderCoreTest, NotesThatDifferOnlyPastTheLimitAggregate) {
  const std::string base(kMaxNoteBytes, 'n');
  aggregator_.observe(occurrence(base + "one"));
  clock_->advance(seconds(2));
  auto repeat = aggregator_.observe(occurrence(base + "two"));
  ASSERT_TRUE(repeat);
  EXPECT_EQ(repeat->verb, Verb::kPatchSeries);
}

TEST_F(EventRecorderCoreTest, InvalidOccurrencesAreRefused) {
  EventOccurrence badType = occurrence();
  badType.type = "Error";
  EXPECT_NE(invalidReason(badType), "");
  EXPECT_FALSE(aggregator_.observe(badType));
  EventOccurrence noReason = occurrence();
  noReason.reason = "";
  EXPECT_NE(invalidReason(noReason), "");
  EventOccurrence noName = occurrence("x", Json{{"kind", "ConfigMap"}});
  EXPECT_NE(invalidReason(noName), "");
  EXPECT_EQ(invalidReason(occurrence()), "");
  EXPECT_EQ(aggregator_.size(), 0u);
}

TEST_F(EventRecorderCoreTest, ForgetMakesTheNextRepeatCreate) {
  auto first = aggregator_.observe(occurrence());
  aggregator_.forget(first->ns, first->name);
  EXPECT_EQ(aggregator_.size(), 0u);
  auto again = aggregator_.observe(occurrence());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->verb, Verb::kCreate);
}

TEST_F(EventRecorderCoreTest, EventNamesStayValidForLongRegardingNames) {
  const std::string longName = std::string(239, 'a') + "-b";  // truncation leaves a trailing '-'
  auto write = aggregator_.observe(occurrence("x", configMap(longName)));
  ASSERT_TRUE(write);
  EXPECT_LE(write->name.size(), 253u);
  EXPECT_TRUE(std::regex_match(write->name, std::regex("a+\\.[0-9a-f]{16}"))) << write->name;
}

TEST(EventRecorderFormat, MicroTimeIsRfc3339WithMicroseconds) {
  EXPECT_EQ(util::formatMicroTime(kWallStart + std::chrono::microseconds(7)),
            "2024-05-01T10:00:00.000007Z");
}

TEST(EventRecorderFormat, RegardingOfNeverThrows) {
  EXPECT_EQ(regardingOf(Json::array()).name, "");
  EXPECT_EQ(regardingOf(Json{{"metadata", 3}}).name, "");
  EXPECT_EQ(regardingOf(configMap()).uid, "uid-1");
}

// A transport that answers like the API server would, or as a test tells it to.
class FakeTransport final : public kube::Transport {
 public:
  using Handler = std::function<kube::HttpResponse(const kube::HttpRequest&)>;

  kube::HttpResponse send(const kube::HttpRequest& request) override {
    Handler handler;
    {
      std::unique_lock lock(mutex_);
      requests_.push_back(request);
      released_.wait(lock, [this] { return open_; });
      handler = handler_;
    }
    if (handler) return handler(request);
    return {.status = request.method == "POST" ? 201 : 200, .body = request.body};
  }
  kube::HttpResponse stream(const kube::HttpRequest&, const std::function<bool(std::string_view)>&,
                            kube::Cancellation&) override {
    return {.status = 500};
  }
  const std::string& host() const override { return host_; }

  void setHandler(Handler h) {
    std::lock_guard lock(mutex_);
    handler_ = std::move(h);
  }
  void hold() {
    std::lock_guard lock(mutex_);
    open_ = false;
  }
  void release() {
    std::lock_guard lock(mutex_);
    open_ = true;
    released_.notify_all();
  }
  std::vector<kube::HttpRequest> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable released_;
  bool open_ = true;
  Handler handler_;
  std::vector<kube::HttpRequest> requests_;
  std::string host_ = "fake:6443";
};

class EventRecorderTest : public ::testing::Test {
 protected:
  std::shared_ptr<FakeTransport> transport_ = std::make_shared<FakeTransport>();
  std::shared_ptr<util::FakeClock> clock_ = std::make_shared<util::FakeClock>();
  kube::ClientPtr client_ = std::make_shared<kube::Client>(transport_);
};

TEST_F(EventRecorderTest, StopWritesTheCreateAndTheCoalescedRepeats) {
  EventRecorder recorder(client_, kDefaultReportingController, "envop-0", clock_);
  for (int i = 0; i < 3; ++i) recorder.record(configMap(), "Normal", "Applied", "Apply", "same");
  recorder.stop();
  auto requests = transport_->requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].pathAndQuery, "/apis/events.k8s.io/v1/namespaces/team-a/events");
  const Json created = Json::parse(requests[0].body);
  EXPECT_EQ(created["reportingInstance"], "envop-0");
  EXPECT_EQ(requests[1].method, "PATCH");
  EXPECT_EQ(requests[1].contentType, "application/merge-patch+json");
  const std::string eventPath = "/apis/events.k8s.io/v1/namespaces/team-a/events/" +
                                created["metadata"]["name"].get<std::string>();
  EXPECT_EQ(requests[1].pathAndQuery.substr(0, eventPath.size()), eventPath);
  EXPECT_EQ(Json::parse(requests[1].body)["series"]["count"], 3);
  EXPECT_EQ(recorder.dropped(), 0u);
}

TEST_F(EventRecorderTest, FlushWaitsForCoalescedRepeatsToFallDue) {
  EventRecorder recorder(client_, kDefaultReportingController, "envop-0", clock_);
  recorder.record(configMap(), "Warning", "ApplyFailed", "Apply", "boom");
  ASSERT_TRUE(recorder.flush());
  recorder.record(configMap(), "Warning", "ApplyFailed", "Apply", "boom");
  EXPECT_FALSE(recorder.flush(milliseconds(50)));  // coalesced: the FakeClock has not moved
  clock_->advance(seconds(1));
  ASSERT_TRUE(recorder.flush());
  auto requests = transport_->requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(Json::parse(requests[1].body)["series"]["count"], 2);
}

double eventsPending() {
  for (const prometheus::MetricFamily& f : util::metricsRegistry().Collect()) {
    if (f.name == "envop_events_pending" && !f.metric.empty()) return f.metric[0].gauge.value;
  }
  return -1;
}

// envop_events_pending tells a waiting test (or a dashboard) that a coalesced repeat is still to
// be written, which a quiet API server does not.
TEST_F(EventRecorderTest, PendingGaugeCountsCoalescedRepeatsUntilWritten) {
  EventRecorder recorder(client_, kDefaultReportingController, "envop-0", clock_);
  recorder.record(configMap(), "Warning", "ApplyFailed", "Apply", "boom");
  ASSERT_TRUE(recorder.flush());
  EXPECT_EQ(eventsPending(), 0);
  recorder.record(configMap(), "Warning", "ApplyFailed", "Apply", "boom");
  EXPECT_FALSE(recorder.flush(milliseconds(50)));
  EXPECT_EQ(eventsPending(), 1);
  clock_->advance(seconds(1));
  ASSERT_TRUE(recorder.flush());
  EXPECT_EQ(eventsPending(), 0);
}

TEST_F(EventRecorderTest, DropsWhenTheQueueIsFullInsteadOfBlocking) {
  transport_->hold();  // the writer blocks in its first request
  EventRecorder recorder(client_, kDefaultReportingController, "envop-0", clock_,
                         {.queueCapacity = 2});
  for (int i = 0; i < 10; ++i) {
    recorder.record(configMap(), "Normal", "Applied", "Apply", "note " + std::to_string(i));
  }
  // At most one was taken by the writer and two fit in the queue.
  EXPECT_GE(recorder.dropped(), 7u);
  transport_->release();
  ASSERT_TRUE(recorder.flush());
  EXPECT_EQ(recorder.dropped() + transport_->requests().size(), 10u);
}

TEST_F(EventRecorderTest, NoExceptionEscapesTheWriterThread) {
  transport_->setHandler([](const kube::HttpRequest&) -> kube::HttpResponse {
    throw std::runtime_error("transport exploded");
  });
  EventRecorder recorder(client_, kDefaultReportingController, "envop-0", clock_);
  recorder.record(configMap(), "Normal", "Applied", "Apply", "one");
  ASSERT_TRUE(recorder.flush());
  EXPECT_EQ(recorder.failedWrites(), 1u);
  transport_->setHandler(nullptr);
  recorder.record(configMap(), "Normal", "Applied", "Apply", "one");
  ASSERT_TRUE(recorder.flush());
  // The failed series was forgotten, so the repeat is a create, and it succeeded.
  auto requests = transport_->requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].method, "POST");
  EXPECT_EQ(recorder.failedWrites(), 1u);
}

TEST_F(EventRecorderTest, APatchThatFindsTheEventGoneCreatesItWithItsSeries) {
  transport_->setHandler([](const kube::HttpRequest& r) -> kube::HttpResponse {
    if (r.method == "PATCH") {
      return {.status = 404, .body = R"({"kind":"Status","reason":"NotFound","code":404})"};
    }
    return {.status = 201, .body = r.body};
  });
  EventRecorder recorder(client_, kDefaultReportingController, "envop-0", clock_);
  recorder.record(configMap(), "Normal", "Applied", "Apply", "x");
  ASSERT_TRUE(recorder.flush());
  clock_->advance(seconds(2));
  recorder.record(configMap(), "Normal", "Applied", "Apply", "x");
  ASSERT_TRUE(recorder.flush());
  auto requests = transport_->requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[1].method, "PATCH");
  EXPECT_EQ(requests[2].method, "POST");
  const Json recreated = Json::parse(requests[2].body);
  EXPECT_EQ(recreated["series"]["count"], 2);
  EXPECT_EQ(recreated["metadata"]["name"], Json::parse(requests[0].body)["metadata"]["name"]);
  EXPECT_EQ(recorder.failedWrites(), 0u);
}

TEST_F(EventRecorderTest, InvalidEventsAndEventsAfterStopAreDroppedAndCounted) {
  EventRecorder recorder(client_, kDefaultReportingController, "envop-0", clock_);
  recorder.record(configMap(), "Fatal", "Applied", "Apply", "x");
  recorder.record(Json("not an object"), "Normal", "Applied", "Apply", "x");
  recorder.stop();
  recorder.record(configMap(), "Normal", "Applied", "Apply", "x");
  EXPECT_EQ(recorder.dropped(), 3u);
  EXPECT_TRUE(transport_->requests().empty());
}

}  // namespace
}  // namespace envop::runtime
