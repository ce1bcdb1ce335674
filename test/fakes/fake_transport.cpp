#include "test/fakes/fake_transport.h"

namespace envop::fakes {

kube::HttpResponse FakeTransport::send(const kube::HttpRequest& request) {
  {
    std::lock_guard lock(mu_);
    requests_.push_back(request);
  }
  return responder_(request);
}

kube::HttpResponse FakeTransport::stream(const kube::HttpRequest& request,
                                         const std::function<bool(std::string_view)>& /*onLine*/,
                                         kube::Cancellation& cancel) {
  {
    std::lock_guard lock(mu_);
    requests_.push_back(request);
  }
  // The wait has a lock of its own: the callback runs under the Cancellation's lock, so
  // taking mu_ there while mu_ is held around cancel.cancelled() would invert the order.
  std::mutex waitMu;
  bool fired = false;
  const int id = cancel.subscribe([&] {
    std::lock_guard lock(waitMu);
    fired = true;
    cancelled_.notify_all();
  });
  {
    std::unique_lock lock(waitMu);
    cancelled_.wait(lock, [&] { return fired; });
  }
  cancel.unsubscribe(id);
  return {.status = 200};
}

std::vector<kube::HttpRequest> FakeTransport::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

}  // namespace envop::fakes
