#include "controller/environment/release_digest.h"

#include <openssl/evp.h>

#include <array>

namespace envop::environment {

namespace {

const char* kindName(ResolvedChart::Kind kind) {
  switch (kind) {
    case ResolvedChart::Kind::kOci:
      return "oci";
    case ResolvedChart::Kind::kHttpsRepo:
      return "repo";
    case ResolvedChart::Kind::kLocalPath:
      return "path";
  }
  return "";
}

}  // namespace

std::string releaseDigest(const ResolvedChart& chart,
                          const std::string& resolvedChartDigestOrVersion,
                          const nlohmann::json& mergedValues) {
  // plainHttp and host are left out: how a chart is fetched does not change what is deployed.
  const nlohmann::json canonical = {
      {"chart",
       {{"kind", kindName(chart.kind)},
        {"reference", chart.reference},
        {"repoUrl", chart.repoUrl},
        {"name", chart.chartName}}},
      {"resolved", resolvedChartDigestOrVersion},
      {"values", mergedValues},
  };
  // dump() sorts object keys (nlohmann::json is an ordered std::map), so the text is canonical;
  // `replace` keeps it from throwing on text that is not UTF-8.
  const std::string text = canonical.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int length = 0;
  if (EVP_Digest(text.data(), text.size(), md.data(), &length, EVP_sha256(), nullptr) != 1) {
    return "";  // only when OpenSSL itself is broken; see the header
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256:";
  out.reserve(7 + 2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0x0f]);
  }
  return out;
}

}  // namespace envop::environment
