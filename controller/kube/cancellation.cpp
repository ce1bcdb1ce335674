#include "controller/kube/cancellation.h"

namespace envop::kube {

void Cancellation::cancel() {
  // Callbacks run under the lock, so that unsubscribe() returns only once no callback of
  // its subscriber is running: a stream that has finished may then free what its
  // callback touches.
  std::lock_guard lock(mu_);
  if (cancelled_) return;
  cancelled_ = true;
  for (auto& [id, cb] : callbacks_) cb();
  callbacks_.clear();
}

bool Cancellation::cancelled() const {
  std::lock_guard lock(mu_);
  return cancelled_;
}

int Cancellation::subscribe(std::function<void()> onCancel) {
  {
    std::lock_guard lock(mu_);
    if (!cancelled_) {
      callbacks_.emplace(++next_, std::move(onCancel));
      return next_;
    }
  }
  onCancel();
  return 0;
}

void Cancellation::unsubscribe(int id) {
  std::lock_guard lock(mu_);
  callbacks_.erase(id);
}

}  // namespace envop::kube
