#include "controller/kube/client.h"

#include <prometheus/counter.h>

#include "controller/util/metrics.h"

namespace envop::kube {
namespace {

prometheus::Family<prometheus::Counter>& requestsTotal() {
  static auto& family = prometheus::BuildCounter()
                            .Name("rest_client_requests_total")
                            .Help(
                                "Number of HTTP requests to the API server, by status code, "
                                "method and host.")
                            .Register(util::metricsRegistry());
  return family;
}

void countRequest(int status, const std::string& method, const std::string& host) {
  // client-go labels a request that got no answer with code "<error>".
  requestsTotal()
      .Add({{"code", status == 0 ? "<error>" : std::to_string(status)},
            {"method", method},
            {"host", host}})
      .Increment();
}

std::string query(std::initializer_list<std::pair<const char*, std::string>> params) {
  std::string q;
  for (const auto& [k, v] : params) {
    if (v.empty()) continue;
    q += (q.empty() ? "?" : "&");
    q += std::string(k) + "=" + urlEncode(v);
  }
  return q;
}

constexpr const char* kMetadataListAccept =
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
constexpr const char* kMetadataAccept =
    "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";

ApiError errorOf(const HttpResponse& response) {
  if (response.status == 0) return networkError(response.error);
  return fromResponse(response.status, response.body, response.retryAfterSeconds);
}

}  // namespace

namespace {
// metadata.<field> without copying metadata (Json::value would return a copy of the whole
// object; these run for every object of every informer event and every request).
std::string metadataString(const Json& object, const char* field) {
  if (!object.is_object()) return "";
  const auto md = object.find("metadata");
  if (md == object.end() || !md->is_object()) return "";
  const auto value = md->find(field);
  return value != md->end() && value->is_string() ? value->get<std::string>() : "";
}
}  // namespace

std::string namespaceOf(const Json& object) { return metadataString(object, "namespace"); }

std::string nameOf(const Json& object) { return metadataString(object, "name"); }

Client::Client(TransportPtr transport) : transport_(std::move(transport)) {}

Result<Json> Client::call(const std::string& verb, HttpRequest request) {
  const HttpResponse response = transport_->send(request);
  countRequest(response.status, verb, transport_->host());
  if (response.status < 200 || response.status >= 300) return errorOf(response);
  if (response.body.empty()) return Json::object();
  Json parsed = Json::parse(response.body, nullptr, false);
  if (parsed.is_discarded()) {
    ApiError e;
    e.httpStatus = response.status;
    e.reason = "InternalError";
    e.message = "the API server answered " + request.method + " " + request.pathAndQuery +
                " with a body that is not JSON";
    return e;
  }
  return parsed;
}

Result<Json> Client::get(const Resource& r, const std::string& ns, const std::string& name,
                         const std::string& subresource) {
  return call("GET", {.method = "GET", .pathAndQuery = r.path(ns, name, subresource)});
}

Result<ListPage> Client::listPage(const Resource& r, const std::string& ns,
                                  const ListOptions& opts) {
  std::string q = query({{"labelSelector", opts.labelSelector},
                         {"fieldSelector", opts.fieldSelector},
                         {"limit", opts.limit > 0 ? std::to_string(opts.limit) : ""},
                         {"continue", opts.continueToken}});
  if (opts.resourceVersion) {
    q += (q.empty() ? "?" : "&");
    q += "resourceVersion=" + urlEncode(*opts.resourceVersion);
  }
  auto result =
      call("LIST", {.method = "GET",
                    .pathAndQuery = r.path(ns) + q,
                    .accept = opts.metadataOnly ? kMetadataListAccept : "application/json"});
  if (!result) return result.error();
  // Checked field by field rather than read with nlohmann's throwing accessors: a body of the
  // wrong shape is the server's error, reported as one, not an exception in an informer thread.
  auto malformed = [&](const std::string& why) {
    ApiError e;
    e.httpStatus = 200;
    e.reason = "InternalError";
    e.message = "the API server's list of " + r.plural + " is malformed: " + why;
    return e;
  };
  Json& list = result.value();
  if (!list.is_object()) return malformed("the body is not an object");
  ListPage page;
  if (const auto md = list.find("metadata"); md != list.end() && !md->is_null()) {
    if (!md->is_object()) return malformed("metadata is not an object");
    for (const auto& [field, out] :
         {std::pair<const char*, std::string*>{"resourceVersion", &page.resourceVersion},
          {"continue", &page.continueToken}}) {
      const auto value = md->find(field);
      if (value == md->end() || value->is_null()) continue;
      if (!value->is_string()) {
        return malformed(std::string("metadata.") + field + " is not a string");
      }
      *out = value->get<std::string>();
    }
  }
  if (const auto items = list.find("items"); items != list.end() && !items->is_null()) {
    if (!items->is_array()) return malformed("items is not a list");
    page.items.reserve(items->size());
    for (std::size_t i = 0; i < items->size(); ++i) {
      Json& item = (*items)[i];
      if (!item.is_object()) return malformed("items[" + std::to_string(i) + "] is not an object");
      // List items omit apiVersion/kind; put them back so handlers see whole objects.
      item["apiVersion"] = r.apiVersion();
      item["kind"] = r.kind;
      page.items.push_back(std::move(item));
    }
  }
  return page;
}

Result<ListPage> Client::list(const Resource& r, const std::string& ns, ListOptions opts) {
  ListPage all;
  for (;;) {
    auto page = listPage(r, ns, opts);
    if (!page) return page.error();
    for (Json& item : page.value().items) all.items.push_back(std::move(item));
    all.resourceVersion = page.value().resourceVersion;
    if (page.value().continueToken.empty()) return all;
    opts.continueToken = page.value().continueToken;
    opts.resourceVersion.reset();  // a continue token carries its own snapshot
  }
}

Result<Json> Client::create(const Resource& r, const Json& object) {
  return call("POST", {.method = "POST",
                       .pathAndQuery = r.path(namespaceOf(object)),
                       .body = object.dump(),
                       .contentType = "application/json"});
}

Result<Json> Client::update(const Resource& r, const Json& object, const std::string& subresource) {
  return call("PUT", {.method = "PUT",
                      .pathAndQuery = r.path(namespaceOf(object), nameOf(object), subresource),
                      .body = object.dump(),
                      .contentType = "application/json"});
}

Result<Json> Client::apply(const Resource& r, const Json& object, const std::string& subresource,
                           const std::string& fieldManager, bool force) {
  // JSON is YAML, so the apply-patch+yaml content type takes the object as it is.
  return call(
      "PATCH",
      {.method = "PATCH",
       .pathAndQuery = r.path(namespaceOf(object), nameOf(object), subresource) +
                       query({{"fieldManager", fieldManager}, {"force", force ? "true" : "false"}}),
       .body = object.dump(),
       .contentType = "application/apply-patch+yaml"});
}

Result<Json> Client::dryRunUpdate(const Resource& r, const Json& object) {
  return call("PUT", {.method = "PUT",
                      .pathAndQuery = r.path(namespaceOf(object), nameOf(object)) +
                                      query({{"fieldManager", kFieldManager}, {"dryRun", "All"}}),
                      .body = object.dump(),
                      .contentType = "application/json"});
}

Result<Json> Client::patch(const Resource& r, const std::string& ns, const std::string& name,
                           PatchType type, const Json& patch, const std::string& subresource) {
  const char* contentType = type == PatchType::kMerge  ? "application/merge-patch+json"
                            : type == PatchType::kJson ? "application/json-patch+json"
                                                       : "application/strategic-merge-patch+json";
  return call("PATCH", {.method = "PATCH",
                        .pathAndQuery = r.path(ns, name, subresource) +
                                        query({{"fieldManager", kFieldManager}}),
                        .body = patch.dump(),
                        .contentType = contentType});
}

Status Client::remove(const Resource& r, const std::string& ns, const std::string& name,
                      const DeleteOptions& opts) {
  Json body = {{"apiVersion", "v1"}, {"kind", "DeleteOptions"}};
  if (!opts.propagationPolicy.empty()) body["propagationPolicy"] = opts.propagationPolicy;
  if (!opts.preconditionUid.empty()) body["preconditions"]["uid"] = opts.preconditionUid;
  if (!opts.preconditionResourceVersion.empty()) {
    body["preconditions"]["resourceVersion"] = opts.preconditionResourceVersion;
  }
  auto result = call("DELETE", {.method = "DELETE",
                                .pathAndQuery = r.path(ns, name),
                                .body = body.dump(),
                                .contentType = "application/json"});
  if (!result) return result.error();
  return std::monostate{};
}

Status Client::watch(const Resource& r, const std::string& ns, const WatchOptions& opts,
                     const std::function<bool(Json&)>& onEvent, Cancellation& cancel) {
  const std::string q = query({{"watch", "true"},
                               {"resourceVersion", opts.resourceVersion},
                               {"allowWatchBookmarks", opts.allowBookmarks ? "true" : ""},
                               {"timeoutSeconds", std::to_string(opts.timeoutSeconds)},
                               {"labelSelector", opts.labelSelector},
                               {"fieldSelector", opts.fieldSelector}});
  bool malformed = false;
  const HttpResponse response = transport_->stream(
      {.method = "GET",
       .pathAndQuery = r.path(ns) + q,
       .timeout = std::chrono::seconds(opts.timeoutSeconds),
       .accept = opts.metadataOnly ? kMetadataAccept : "application/json"},
      [&](std::string_view line) {
        Json event = Json::parse(line, nullptr, false);
        if (event.is_discarded() || !event.is_object()) {
          malformed = true;
          return false;
        }
        return onEvent(event);
      },
      cancel);
  countRequest(response.status, "WATCH", transport_->host());
  if (response.status < 200 || response.status >= 300) {
    if (cancel.cancelled()) return std::monostate{};
    return errorOf(response);
  }
  if (malformed) return networkError("the watch stream carried a line that is not a JSON event");
  return std::monostate{};
}

Result<Json> Client::getRaw(const std::string& path) {
  return call("GET", {.method = "GET", .pathAndQuery = path});
}

Result<bool> Client::serves(const std::string& groupVersion, const std::string& plural) {
  const std::string path = groupVersion.find('/') == std::string::npos ? "/api/" + groupVersion
                                                                       : "/apis/" + groupVersion;
  auto result = getRaw(path);
  if (!result) {
    if (result.error().isNotFound()) return false;
    return result.error();
  }
  for (const Json& resource : result.value().value("resources", Json::array())) {
    if (resource.value("name", "") == plural) return true;
  }
  return false;
}

}  // namespace envop::kube
