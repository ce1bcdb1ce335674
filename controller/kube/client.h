// Client is envop's Kubernetes REST client: typed verbs (get, list, create, apply,
// patch, delete, watch) over a Transport, with metav1.Status failures turned into
// ApiError and every request counted in rest_client_requests_total{code,method,host}.
// Objects stay JSON (nlohmann::json); callers read the fields they need.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "controller/kube/api_error.h"
#include "controller/kube/resource.h"
#include "controller/kube/transport.h"
#include "controller/util/expected.h"

namespace envop::kube {

using Json = nlohmann::json;

// A value or the ApiError that prevented it; never an exception.
template <typename T>
using Result = util::Expected<T, ApiError>;
using Status = Result<std::monostate>;

inline constexpr const char* kFieldManager = "envop";

struct ListOptions {
  std::string labelSelector;
  std::string fieldSelector;
  std::optional<std::string> resourceVersion;  // nullopt: not sent; "0": any cached state
  int limit = 500;
  std::string continueToken;
  // Only metadata (PartialObjectMetadata): enough to notice a change of a Secret without
  // holding its data.
  bool metadataOnly = false;
};

struct ListPage {
  std::vector<Json> items;
  std::string resourceVersion;
  std::string continueToken;  // empty on the last page
};

struct WatchOptions {
  std::string resourceVersion;
  int timeoutSeconds = 300;
  std::string labelSelector;
  std::string fieldSelector;
  bool allowBookmarks = true;
  bool metadataOnly = false;
};

struct DeleteOptions {
  std::string propagationPolicy;  // "", Background, Foreground, Orphan
  std::string preconditionUid;
  std::string preconditionResourceVersion;
};

enum class PatchType { kMerge, kJson, kStrategicMerge };

class Client final {
 public:
  explicit Client(TransportPtr transport);

  Result<Json> get(const Resource& r, const std::string& ns, const std::string& name,
                   const std::string& subresource = "");
  // One page; the reflector drives paging itself.
  Result<ListPage> listPage(const Resource& r, const std::string& ns, const ListOptions& opts);
  // Every page, following `continue` tokens.
  Result<ListPage> list(const Resource& r, const std::string& ns, ListOptions opts = {});
  Result<Json> create(const Resource& r, const Json& object);
  Result<Json> update(const Resource& r, const Json& object, const std::string& subresource = "");
  // Server-side apply as field manager `envop` (the object names itself). With force the
  // apply takes fields other managers own; without, it fails with a 409 whose causes name
  // each conflicting field and its manager.
  Result<Json> apply(const Resource& r, const Json& object, const std::string& subresource = "",
                     const std::string& fieldManager = kFieldManager, bool force = true);
  // An update that is only simulated (dryRun=All): the object as the server would store it,
  // defaulted and normalised (quantities, int-or-string). Writes nothing.
  Result<Json> dryRunUpdate(const Resource& r, const Json& object);
  Result<Json> patch(const Resource& r, const std::string& ns, const std::string& name,
                     PatchType type, const Json& patch, const std::string& subresource = "");
  Status remove(const Resource& r, const std::string& ns, const std::string& name,
                const DeleteOptions& opts = {});

  // Streams watch events ({type, object}) to onEvent until the server ends the watch,
  // onEvent returns false, or cancel fires. A non-2xx answer is returned as an error. The event
  // is onEvent's to take apart (move its object out rather than copy it).
  Status watch(const Resource& r, const std::string& ns, const WatchOptions& opts,
               const std::function<bool(Json& event)>& onEvent, Cancellation& cancel);

  // GET an arbitrary path (discovery, /version, /readyz).
  Result<Json> getRaw(const std::string& path);
  // Whether the API server serves group/version/plural (the ServiceMonitor CRD may be absent).
  Result<bool> serves(const std::string& groupVersion, const std::string& plural);

  Transport& transport() { return *transport_; }

 private:
  Result<Json> call(const std::string& verb, HttpRequest request);

  TransportPtr transport_;
};
using ClientPtr = std::shared_ptr<Client>;

// metadata.namespace / metadata.name of an object ("" when absent).
std::string namespaceOf(const Json& object);
std::string nameOf(const Json& object);

}  // namespace envop::kube
