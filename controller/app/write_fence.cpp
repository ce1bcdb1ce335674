#include "controller/app/write_fence.h"

#include <spdlog/spdlog.h>

namespace envop::app {

bool isWrite(const std::string& method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

FencedTransport::FencedTransport(kube::TransportPtr inner, std::function<bool()> mayWrite)
    : inner_(std::move(inner)), mayWrite_(std::move(mayWrite)) {}

kube::HttpResponse FencedTransport::send(const kube::HttpRequest& request) {
  if (isWrite(request.method) && !mayWrite_()) {
    refused_.fetch_add(1);
    // The path names the object, never its content.
    spdlog::warn("refused {} {}: this replica no longer holds the leader Lease", request.method,
                 request.pathAndQuery.substr(0, request.pathAndQuery.find('?')));
    return kube::HttpResponse{.status = 0,
                              .error = "refused: this replica no longer holds the leader Lease"};
  }
  return inner_->send(request);
}

kube::HttpResponse FencedTransport::stream(const kube::HttpRequest& request,
                                           const std::function<bool(std::string_view line)>& onLine,
                                           kube::Cancellation& cancel) {
  return inner_->stream(request, onLine, cancel);
}

}  // namespace envop::app
