// What envop reads back from Helm: the JSON of `helm status/history/list/get values -o json`,
// `helm show chart`'s YAML and a pull's stderr (helm_output.h), the release record in Helm's
// storage Secret (manifestFromReleaseRecord: base64 inside the Secret's base64, gzip, JSON, then
// the manifest's YAML documents, as ReleaseDrift reads it), and the storage Secrets' labels
// (HelmStorage::latest, with parseRfc3339 of their creationTimestamp). The first byte picks
// which; the rest is the text. Record modes 9 and 10 wrap the rest in the outer layers
// themselves (base64 twice; gzip too), so the fuzzer's mutations reach the inner ones.
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

#include "controller/environment/helm_storage.h"
#include "controller/environment/release_drift.h"
#include "controller/environment/values.h"
#include "controller/helm/helm_output.h"
#include "controller/kube/config.h"
#include "controller/runtime/store.h"

namespace {

std::string base64(const std::string& bytes) { return envop::kube::encodeBase64(bytes); }

std::string gzip(const std::string& bytes) {
  z_stream z{};
  deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, bytes.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

void readRecord(const std::string& secretValue) {
  using namespace envop::environment;
  const auto manifest = manifestFromReleaseRecord(secretValue);
  if (manifest) (void)parseYamlDocuments(*manifest, "manifest of release fuzz");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace envop;
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 12) {
    case 0:
      (void)helm::parseStatus(text);
      break;
    case 1:
      (void)helm::parseHistory(text);
      break;
    case 2:
      (void)helm::parseList(text);
      break;
    case 3:
      (void)helm::parseValues(text);
      break;
    case 4:
      (void)helm::parseChartYaml(text);
      break;
    case 5:
      (void)helm::parseDigest(text);
      (void)helm::isReleaseNotFound(text);
      (void)helm::trimTail(text, 64);
      (void)helm::redact(text, {"secret", "sec", text.substr(0, text.size() / 2)});
      break;
    case 6:
    case 7: {
      // A list of Secrets' metadata (the metadata-only cache of owner=helm Secrets).
      const auto list = nlohmann::json::parse(text, nullptr, false);
      if (!list.is_array()) break;
      auto store = std::make_shared<runtime::Store>();
      for (const auto& item : list) {
        if (item.is_object() && item.contains("metadata") && item["metadata"].is_object()) {
          (void)store->upsert(item);
        }
      }
      environment::HelmStorage storage(store);
      for (const auto& object : store->list()) {
        const auto& metadata = (*object)["metadata"];
        const auto labels = metadata.value("labels", nlohmann::json::object());
        const auto name = labels.is_object() ? labels.find("name") : labels.end();
        const auto ns = metadata.find("namespace");
        if (name != labels.end() && name->is_string() && ns != metadata.end() && ns->is_string()) {
          (void)storage.latest(ns->get<std::string>(), name->get<std::string>());
        }
      }
      break;
    }
    case 8:
      (void)environment::parseRfc3339(text);
      readRecord(text);
      break;
    case 9:
      readRecord(base64(base64(text)));
      break;
    case 10:
    case 11:
      readRecord(base64(base64(gzip(text))));
      break;
  }
  return 0;
}
