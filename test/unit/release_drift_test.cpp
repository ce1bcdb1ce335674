#include "controller/environment/release_drift.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include "controller/environment/helm_storage.h"
#include "controller/environment/release_spec.h"

namespace envop::environment {
namespace {

using Json = nlohmann::json;

Json deployment(int replicas, int port) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata",
           {{"name", "gateway"},
            {"namespace", "pro"},
            {"resourceVersion", "42"},
            {"generation", 3},
            {"managedFields", Json::array({{{"manager", "helm"}}})}}},
          {"spec",
           {{"replicas", replicas},
            {"template",
             {{"spec",
               {{"containers",
                 Json::array({{{"name", "app"},
                               {"ports", Json::array({{{"containerPort", port}}})}}})}}}}}}},
          {"status", {{"readyReplicas", 1}}}};
}

TEST(ReleaseDriftTest, EqualObjectsHaveNoDrift) {
  EXPECT_TRUE(driftedFields(deployment(2, 8080), deployment(2, 8080), {}).empty());
}

TEST(ReleaseDriftTest, StatusAndServerMetadataAreNeverDrift) {
  Json live = deployment(2, 8080);
  live["status"]["readyReplicas"] = 0;
  live["metadata"]["resourceVersion"] = "43";
  live["metadata"]["generation"] = 4;
  live["metadata"]["managedFields"].push_back({{"manager", "kube-controller-manager"}});
  EXPECT_TRUE(driftedFields(deployment(2, 8080), live, {}).empty());
}

TEST(ReleaseDriftTest, ChangedFieldsAreNamedByPointer) {
  const std::vector<std::string> fields =
      driftedFields(deployment(2, 8080), deployment(5, 9090), {});
  EXPECT_EQ(fields,
            (std::vector<std::string>{"/spec/replicas",
                                      "/spec/template/spec/containers/0/ports/0/containerPort"}));
}

TEST(ReleaseDriftTest, IgnoredPointersAreLeftOut) {
  EXPECT_TRUE(driftedFields(deployment(2, 8080), deployment(5, 8080), {"/spec/replicas"}).empty());
  EXPECT_EQ(driftedFields(deployment(2, 8080), deployment(5, 9090), {"/spec/replicas"}).size(), 1u);
  // A pointer that names nothing in the object is harmless.
  EXPECT_TRUE(driftedFields(deployment(2, 8080), deployment(2, 8080), {"/spec/nothing/0"}).empty());
}

TEST(ReleaseDriftTest, PointerKeysAreEscaped) {
  Json a = {{"metadata", {{"labels", {{"app.kubernetes.io/name", "a"}}}}}};
  Json b = {{"metadata", {{"labels", {{"app.kubernetes.io/name", "b"}}}}}};
  EXPECT_EQ(driftedFields(a, b, {}),
            std::vector<std::string>{"/metadata/labels/app.kubernetes.io~1name"});
  EXPECT_TRUE(driftedFields(a, b, {"/metadata/labels/app.kubernetes.io~1name"}).empty());
}

TEST(ReleaseDriftTest, IgnoreRulesMatchByKindAndName) {
  DriftDetection d;
  d.ignore = {{.paths = {"/spec/replicas"}, .kind = "Deployment"},
              {.paths = {"/data/x"}, .kind = "ConfigMap", .name = "one"},
              {.paths = {"/metadata/labels"}}};
  EXPECT_EQ(ignoredPaths(d, "Deployment", "gateway"),
            (std::vector<std::string>{"/spec/replicas", "/metadata/labels"}));
  EXPECT_EQ(ignoredPaths(d, "ConfigMap", "one"),
            (std::vector<std::string>{"/data/x", "/metadata/labels"}));
  EXPECT_EQ(ignoredPaths(d, "ConfigMap", "two"), std::vector<std::string>{"/metadata/labels"});
}

std::string base64(const std::string& in) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned n = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    for (int s : {18, 12, 6, 0}) out += table[(n >> s) & 63];
  }
  if (i + 1 == in.size()) {
    const unsigned n = static_cast<unsigned char>(in[i]) << 16;
    out += table[(n >> 18) & 63];
    out += table[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const unsigned n =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += table[(n >> 18) & 63];
    out += table[(n >> 12) & 63];
    out += table[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string gzip(const std::string& in) {
  z_stream s{};
  deflateInit2(&s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&s, in.size()) + 32, '\0');
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  s.avail_in = static_cast<uInt>(in.size());
  s.next_out = reinterpret_cast<Bytef*>(out.data());
  s.avail_out = static_cast<uInt>(out.size());
  deflate(&s, Z_FINISH);
  out.resize(s.total_out);
  deflateEnd(&s);
  return out;
}

TEST(ReleaseDriftTest, ManifestIsReadFromHelmsReleaseRecord) {
  const Json record = {{"name", "gateway"}, {"manifest", "---\nkind: Service\n"}, {"version", 2}};
  EXPECT_EQ(manifestFromReleaseRecord(base64(base64(gzip(record.dump())))),
            std::optional<std::string>("---\nkind: Service\n"));
  // Uncompressed records (older helm) read too.
  EXPECT_EQ(manifestFromReleaseRecord(base64(base64(record.dump()))),
            std::optional<std::string>("---\nkind: Service\n"));
  EXPECT_EQ(manifestFromReleaseRecord("not base64!"), std::nullopt);
  EXPECT_EQ(manifestFromReleaseRecord(base64(base64(gzip("{\"name\":\"x\"}")))), std::nullopt);
  EXPECT_EQ(manifestFromReleaseRecord(base64(base64("\x1f\x8b garbage"))), std::nullopt);
}

runtime::Object helmSecret(const std::string& ns, const std::string& release, int version,
                           const std::string& status, const std::string& modifiedAt = "") {
  Json labels = {{"owner", "helm"},
                 {"name", release},
                 {"status", status},
                 {"version", std::to_string(version)}};
  if (!modifiedAt.empty()) labels["modifiedAt"] = modifiedAt;
  return {{"metadata",
           {{"name", HelmStorage::secretName(release, version)},
            {"namespace", ns},
            {"creationTimestamp", "2026-12-01T09:00:00Z"},
            {"labels", labels}}}};
}

TEST(HelmStorageTest, NewestRevisionOfTheReleaseInItsNamespace) {
  auto store = std::make_shared<runtime::Store>();
  store->upsert(helmSecret("pro", "gateway", 1, "superseded", "1764579600"));
  store->upsert(helmSecret("pro", "gateway", 10, "pending-upgrade"));
  store->upsert(helmSecret("pro", "gateway", 9, "deployed", "1764579700"));
  store->upsert(helmSecret("pro", "orders", 12, "deployed"));
  store->upsert(helmSecret("dev", "gateway", 30, "deployed"));
  const HelmStorage storage(store);
  const auto latest = storage.latest("pro", "gateway");
  ASSERT_TRUE(latest);
  EXPECT_EQ(latest->revision, 10);  // numerically, not as text ("10" < "9")
  EXPECT_EQ(latest->status, "pending-upgrade");
  EXPECT_EQ(latest->written, *parseRfc3339("2026-12-01T09:00:00Z"));
  EXPECT_EQ(storage.latest("pro", "config-server"), std::nullopt);
  EXPECT_EQ(storage.latest("test", "gateway"), std::nullopt);
  EXPECT_EQ(storage.latest("pro", "orders")->revision, 12);
  const auto superseded = HelmStorage(store).latest("pro", "gateway");
  EXPECT_EQ(superseded->revision, 10);
}

// A Secret's creationTimestamp with a short offset ("+1:2"): parseRfc3339 stepped six bytes
// past the '+' whatever the offset's length and read beyond the end of the text (ASan: heap
// buffer overflow). Every offset but exactly "hh:mm" is malformed.
TEST(HelmStorageTest, Rfc3339OffsetsMustBeHhMm) {
  for (const char* text :
       {"2026-12-01T09:00:00+1:2", "2026-12-01T09:00:00+1:22", "2026-12-01T09:00:00+",
        "2026-12-01T09:00:00-01", "2026-12-01T09:00:00+01:2", "2026-12-01T09:00:00+0a:00",
        "2026-12-01T09:00:00+01-00"}) {
    EXPECT_FALSE(parseRfc3339(text).has_value()) << text;
  }
  EXPECT_EQ(parseRfc3339("2026-12-01T10:00:00+01:00"), parseRfc3339("2026-12-01T09:00:00Z"));
  // Found by test/fuzz/helm_output_fuzzer: a year past what system_clock holds (2262) overflowed
  // (UBSan) instead of being refused.
  EXPECT_FALSE(parseRfc3339("4052-12-01T09:00:00.123+01:00").has_value());
  EXPECT_TRUE(parseRfc3339("2261-12-01T09:00:00Z").has_value());
  EXPECT_EQ(parseRfc3339("2026-12-01T08:30:00-00:30"), parseRfc3339("2026-12-01T09:00:00Z"));
}

TEST(HelmStorageTest, ModifiedAtIsTheTimeOfAnUpdatedRecord) {
  auto store = std::make_shared<runtime::Store>();
  store->upsert(helmSecret("pro", "gateway", 2, "deployed", "1764579700"));
  EXPECT_EQ(HelmStorage(store).latest("pro", "gateway")->written,
            std::chrono::system_clock::from_time_t(1764579700));
}

// A modifiedAt no clock can hold is no time: the record reads as written at its creation.
TEST(HelmStorageTest, AnUnrepresentableModifiedAtIsIgnored) {
  auto store = std::make_shared<runtime::Store>();
  store->upsert(helmSecret("pro", "gateway", 2, "deployed", "999999999999999"));
  const auto latest = HelmStorage(store).latest("pro", "gateway");
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->revision, 2);
}

// Found by test/fuzz/helm_output_fuzzer in CI: a metadata field of the wrong type threw a
// type_error out of latest(); such an object is skipped.
TEST(HelmStorageTest, ASecretWithMalformedMetadataIsSkippedNotThrown) {
  auto store = std::make_shared<runtime::Store>();
  store->upsert(helmSecret("pro", "gateway", 2, "deployed", "1764579700"));
  nlohmann::json odd = helmSecret("pro", "gateway", 3, "deployed", "1764579800");
  odd["metadata"]["namespace"] = {{"not", "a string"}};
  odd["metadata"]["name"] = "odd";
  store->upsert(odd);
  const auto latest = HelmStorage(store).latest("pro", "gateway");
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->revision, 2);
}

TEST(HelmStorageTest, Rfc3339) {
  EXPECT_EQ(parseRfc3339("1970-01-01T00:01:00Z"), std::chrono::system_clock::from_time_t(60));
  EXPECT_EQ(parseRfc3339("1970-01-01T08:01:00.123+08:00"),
            std::chrono::system_clock::from_time_t(60));
  EXPECT_EQ(parseRfc3339("1970-01-01 00:01:00"), std::nullopt);
  EXPECT_EQ(parseRfc3339("1970-01-01T00:01:00Zjunk"), std::nullopt);
  EXPECT_EQ(parseRfc3339(""), std::nullopt);
}

}  // namespace
}  // namespace envop::environment
