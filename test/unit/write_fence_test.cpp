// The leader's write fence, over a transport that records what reaches it: no network.
#include "controller/app/write_fence.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <vector>

namespace envop::app {
namespace {

class RecordingTransport final : public kube::Transport {
 public:
  kube::HttpResponse send(const kube::HttpRequest& request) override {
    sent.push_back(request.method);
    return {.status = 200, .body = "{}"};
  }
  kube::HttpResponse stream(const kube::HttpRequest& request,
                            const std::function<bool(std::string_view)>&,
                            kube::Cancellation&) override {
    sent.push_back("WATCH " + request.method);
    return {.status = 200};
  }
  const std::string& host() const override { return host_; }
  std::vector<std::string> sent;

 private:
  std::string host_ = "apiserver:6443";
};

TEST(WriteFence, WritesPassOnlyWhileTheLeaseIsHeldReadsAlways) {
  auto inner = std::make_shared<RecordingTransport>();
  std::atomic<bool> holds{true};
  FencedTransport fenced(inner, [&holds] { return holds.load(); });
  EXPECT_EQ(fenced.host(), "apiserver:6443");
  for (const char* m : {"GET", "POST", "PUT", "PATCH", "DELETE"}) {
    EXPECT_EQ(fenced.send({.method = m}).status, 200) << m;
  }
  holds = false;
  for (const char* m : {"POST", "PUT", "PATCH", "DELETE"}) {
    const kube::HttpResponse r = fenced.send({.method = m, .pathAndQuery = "/api/v1/x?dryRun=All"});
    EXPECT_EQ(r.status, 0) << m;
    EXPECT_NE(r.error.find("leader Lease"), std::string::npos) << r.error;
  }
  EXPECT_EQ(fenced.send({.method = "GET"}).status, 200);
  kube::Cancellation cancel;
  EXPECT_EQ(fenced
                .stream(
                    {.method = "GET"}, [](std::string_view) { return true; }, cancel)
                .status,
            200);
  EXPECT_EQ(fenced.refused(), 4);
  EXPECT_EQ(inner->sent, (std::vector<std::string>{"GET", "POST", "PUT", "PATCH", "DELETE", "GET",
                                                   "WATCH GET"}));
}

}  // namespace
}  // namespace envop::app
