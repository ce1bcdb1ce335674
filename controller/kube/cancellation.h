// Cancellation lets another thread stop a stream (a watch) that is blocked waiting for data:
// the stream subscribes what ends its wait (closing its socket), and cancel() runs it.
#pragma once

#include <functional>
#include <map>
#include <mutex>

namespace envop::kube {

class Cancellation final {
 public:
  void cancel();
  bool cancelled() const;
  // Runs onCancel at once when already cancelled; the returned id removes it. Callbacks
  // must be quick and must not call back into this Cancellation.
  int subscribe(std::function<void()> onCancel);
  // Returns once the callback is removed and not running.
  void unsubscribe(int id);

 private:
  mutable std::mutex mu_;
  bool cancelled_ = false;
  int next_ = 0;
  std::map<int, std::function<void()>> callbacks_;
};

}  // namespace envop::kube
