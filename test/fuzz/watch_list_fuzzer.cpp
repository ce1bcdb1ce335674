// LIST pages and WATCH streams as the informers decode them: kube::Client::listPage and
// Client::watch over a transport that answers with the fuzz input, feeding the reflector's
// WatchMachine (and its Store) the way runtime::Informer does. The input is parts separated by
// a NUL byte: every part but the last is one LIST answer ("STATUS\nheaders\n\nbody", see
// fuzz_transport.h), the last is the WATCH stream, one event per line.
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

#include "controller/kube/client.h"
#include "controller/runtime/store.h"
#include "controller/runtime/watch_machine.h"
#include "test/fuzz/fuzz_transport.h"

namespace {

using namespace envop;

std::string stringField(const kube::Json& object, const char* name) {
  const auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parts = fuzz::splitInput(input, std::string_view("\0", 1));
  std::deque<kube::HttpResponse> answers;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i)
    answers.push_back(fuzz::parseResponse(parts[i]));
  auto lines = fuzz::splitInput(parts.back(), "\n");
  auto transport = std::make_shared<fuzz::FuzzTransport>(std::move(answers), std::move(lines));
  kube::Client client(transport);

  auto store = std::make_shared<runtime::Store>();
  runtime::WatchMachine machine(store, {}, util::steadyClock(), [] { return 0.5; });
  const kube::Resource& resource = kube::resources::secrets();
  runtime::WatchAction action = machine.start();
  bool watched = false;
  // Bounded: once the answers run out every request fails and the machine backs off for ever.
  for (int step = 0; step < 12; ++step) {
    runtime::WatchInput input;
    if (const auto* list = std::get_if<runtime::StartList>(&action)) {
      kube::ListOptions opts{.limit = list->limit, .continueToken = list->continueToken};
      if (!list->resourceVersion.empty()) opts.resourceVersion = list->resourceVersion;
      opts.metadataOnly = step % 2 == 1;
      auto page = client.listPage(resource, "", opts);
      if (page) {
        input = std::move(page.value());
      } else {
        const kube::ApiError& e = page.error();
        input = runtime::Failed{e.httpStatus, e.reason, e.describe()};
      }
    } else if (const auto* watch = std::get_if<runtime::StartWatch>(&action)) {
      if (watched) break;  // the stream is the input's once
      watched = true;
      kube::Cancellation cancel;
      std::optional<runtime::WatchAction> next;
      auto status = client.watch(
          resource, "", {.resourceVersion = watch->resourceVersion, .timeoutSeconds = 300},
          [&](const kube::Json& event) {
            const auto found = event.find("object");
            kube::Json object = found == event.end() ? kube::Json::object() : *found;
            runtime::WatchStep s =
                machine.handle(runtime::WatchEvent{stringField(event, "type"), std::move(object)});
            if (!std::holds_alternative<runtime::Idle>(s.action)) {
              next = std::move(s.action);
              return false;
            }
            return true;
          },
          cancel);
      if (next) {
        action = std::move(*next);
        continue;
      }
      if (status) {
        input = runtime::WatchEnded{};
      } else {
        input = runtime::Failed{status.error().httpStatus, status.error().reason,
                                status.error().describe()};
      }
    } else if (std::holds_alternative<runtime::Wait>(action)) {
      input = runtime::TimerFired{};
    } else {
      break;
    }
    action = machine.handle(std::move(input)).action;
  }
  for (const auto& object : store->list()) (void)runtime::resourceVersionOf(*object);
  return 0;
}
