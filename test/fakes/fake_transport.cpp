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
  const int id = cancel.subscribe([this] {
    std::lock_guard lock(mu_);
    cancelled_.notify_all();
  });
  {
    std::unique_lock lock(mu_);
    cancelled_.wait(lock, [&] { return cancel.cancelled(); });
  }
  cancel.unsubscribe(id);
  return {.status = 200};
}

std::vector<kube::HttpRequest> FakeTransport::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

}  // namespace envop::fakes
