#include "controller/environment/chart_source.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <random>
#include <vector>

#include "controller/environment/registry_credentials.h"
#include "controller/kube/config.h"

namespace envop::environment {
namespace {

namespace fs = std::filesystem;

// A streaming sha256; "" from hex() only if OpenSSL itself fails.
class Sha256 final {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    ok_ = ctx_ != nullptr && EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) == 1;
  }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(std::string_view data) {
    ok_ = ok_ && EVP_DigestUpdate(ctx_, data.data(), data.size()) == 1;
  }
  // A length-prefixed field, so that ("ab", "c") and ("a", "bc") differ.
  void field(std::string_view data) {
    update(std::to_string(data.size()));
    update(std::string_view(":", 1));
    update(data);
  }
  std::string hex() {
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int length = 0;
    if (!ok_ || EVP_DigestFinal_ex(ctx_, md.data(), &length) != 1) return "";
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "sha256:";
    for (unsigned int i = 0; i < length; ++i) {
      out.push_back(kHex[md[i] >> 4]);
      out.push_back(kHex[md[i] & 0x0f]);
    }
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
  bool ok_ = false;
};

std::optional<std::string> readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return std::nullopt;
  return data;
}

// How a message names a chart: its reference (credentials cut out) and requested version.
std::string chartLabel(const ResolvedChart& chart) {
  std::string label = "chart " + withoutUserinfo(chart.reference);
  if (!chart.version.empty()) label += " " + chart.version;
  return label;
}

// A file name for the Environment: its name when that is a plain DNS name (as Environment names
// are), else a digest of it, so no name can point the file outside the directory.
std::string fileNameFor(const std::string& environment) {
  const bool plain =
      !environment.empty() && environment.size() <= 253 && environment.front() != '.' &&
      std::all_of(environment.begin(), environment.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
      });
  if (plain) return environment;
  Sha256 h;
  h.update(environment);
  return h.hex().substr(7, 32);
}

std::string randomSalt() {
  std::random_device device;
  std::string salt;
  for (int i = 0; i < 16; ++i) salt.push_back(static_cast<char>(device() & 0xff));
  return salt;
}

}  // namespace

// One Environment's logins: host → a salted hash of the credentials helm was last logged in
// with successfully (the password itself is never kept).
struct ChartSource::Logins {
  std::mutex mu;  // held during a login: the logins of one Environment share one file
  std::map<std::string, std::string> byHost;
};

helm::ChartRef chartRefOf(const ResolvedChart& chart) {
  switch (chart.kind) {
    case ResolvedChart::Kind::kOci:
      return {.reference = chart.reference, .version = chart.version, .plainHttp = chart.plainHttp};
    case ResolvedChart::Kind::kHttpsRepo:
      if (chart.repoUrl.empty()) return {.reference = chart.reference, .version = chart.version};
      return {.reference = chart.chartName, .repoUrl = chart.repoUrl, .version = chart.version};
    case ResolvedChart::Kind::kLocalPath: {
      std::error_code ec;
      const fs::path absolute = fs::absolute(chart.reference, ec);
      // A version means nothing to a local chart: helm would ignore it.
      return {.reference = ec ? chart.reference : absolute.lexically_normal().string()};
    }
  }
  return {};
}

std::optional<std::string> localChartDigest(const std::string& path, std::string& error) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    error = "local chart path " + path + " does not exist";
    return std::nullopt;
  }
  Sha256 h;
  if (fs::is_regular_file(status)) {
    const auto data = readFile(path);
    if (!data) {
      error = "cannot read the local chart archive " + path;
      return std::nullopt;
    }
    h.field("archive");
    h.field(*data);
    return h.hex();
  }
  if (!fs::is_directory(status)) {
    error = "local chart path " + path + " is neither a directory nor a chart archive";
    return std::nullopt;
  }
  std::vector<std::string> files;
  for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec)) {
      files.push_back(fs::relative(it->path(), path, ec).generic_string());
    }
  }
  if (ec) {
    error = "cannot read the local chart directory " + path + ": " + ec.message();
    return std::nullopt;
  }
  std::sort(files.begin(), files.end());
  h.field("directory");
  for (const std::string& file : files) {
    const auto data = readFile(fs::path(path) / file);
    if (!data) {
      error = "cannot read " + file + " of the local chart " + path;
      return std::nullopt;
    }
    h.field(file);
    h.field(*data);
  }
  return h.hex();
}

namespace {

// [start, at) of "scheme://user:password@host/...", or nothing.
std::optional<std::pair<std::size_t, std::size_t>> userinfoSpan(const std::string& url) {
  const std::size_t scheme = url.find("://");
  if (scheme == std::string::npos) return std::nullopt;
  const std::size_t start = scheme + 3;
  const std::size_t end = std::min(url.find('/', start), url.size());
  const std::size_t at = url.rfind('@', end);
  if (at == std::string::npos || at < start) return std::nullopt;
  return std::make_pair(start, at);
}

std::string userinfoOf(const std::string& url) {
  const auto span = userinfoSpan(url);
  return span ? url.substr(span->first, span->second - span->first) : "";
}

}  // namespace

std::string withoutUserinfo(const std::string& url) {
  const auto span = userinfoSpan(url);
  return span ? url.substr(0, span->first) + url.substr(span->second + 1) : url;
}

ChartSource::ChartSource(kube::ClientPtr client, helm::HelmDriver& helm, ChartSourceOptions options)
    : client_(std::move(client)), helm_(helm), options_(std::move(options)), salt_(randomSalt()) {
  if (!options_.clock) options_.clock = util::steadyClock();
}

std::string ChartSource::registryConfigPath(const std::string& environment) const {
  return helm_.config().stateDir + "/registry/" + fileNameFor(environment) + ".json";
}

std::shared_ptr<ChartSource::Logins> ChartSource::loginsOf(const std::string& environment) {
  std::lock_guard lock(mu_);
  auto& logins = logins_[environment];
  if (!logins) logins = std::make_shared<Logins>();
  return logins;
}

std::string ChartSource::ensureLogin(const std::string& environment, const std::string& host,
                                     const RegistryLogin& login, bool plainHttp,
                                     const std::string& caFile, const std::string& caPem) {
  Sha256 h;
  h.field(salt_);
  h.field(host);
  h.field(login.username);
  h.field(login.password);
  h.field(plainHttp ? "plain" : "tls");
  h.field(caPem);
  const std::string fingerprint = h.hex();
  const std::string path = registryConfigPath(environment);

  const std::shared_ptr<Logins> logins = loginsOf(environment);
  std::lock_guard lock(logins->mu);
  auto known = logins->byHost.find(host);
  std::error_code ec;
  // The file is checked too: a wiped state dir must not leave helm without the login.
  if (known != logins->byHost.end() && known->second == fingerprint && fs::exists(path, ec)) {
    return "";
  }
  const fs::path dir = fs::path(path).parent_path();
  fs::create_directories(dir, ec);
  if (ec || ::chmod(dir.c_str(), 0700) != 0) return "cannot prepare " + dir.string();
  const helm::HelmResult r =
      helm_.registryLogin(host, login.username, login.password, plainHttp, false, path, caFile);
  if (!r.ok) {
    logins->byHost.erase(host);
    return r.message();
  }
  ::chmod(path.c_str(), 0600);
  logins->byHost[host] = fingerprint;
  return "";
}

std::string ChartSource::writeCa(const std::string& environment, const std::string& pem,
                                 std::string& path) {
  path = helm_.config().stateDir + "/registry/" + fileNameFor(environment) + "-ca.crt";
  std::error_code ec;
  const fs::path dir = fs::path(path).parent_path();
  fs::create_directories(dir, ec);
  if (ec || ::chmod(dir.c_str(), 0700) != 0) return "cannot prepare " + dir.string();
  {
    std::ifstream in(path, std::ios::binary);
    const std::string current((std::istreambuf_iterator<char>(in)), {});
    if (in && current == pem) return "";
  }
  // Written beside and renamed, so a helm reading it never sees half a bundle.
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << pem;
    if (!out) return "cannot write " + tmp;
  }
  fs::rename(tmp, path, ec);
  if (ec) return "cannot write " + path;
  return "";
}

std::optional<std::string> ChartSource::cachedDigest(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = digests_.find(key);
  if (it == digests_.end() || options_.clock->now() - it->second.at >= options_.digestTtl) {
    return std::nullopt;
  }
  return it->second.digest;
}

void ChartSource::cacheDigest(const std::string& key, const std::string& digest) {
  const util::TimePoint now = options_.clock->now();
  std::lock_guard lock(mu_);
  std::erase_if(digests_,
                [&](const auto& entry) { return now - entry.second.at >= options_.digestTtl; });
  digests_[key] = {digest, now};
}

ChartResolution ChartSource::pulledDigest(const helm::ChartRef& ref, const ResolvedChart& chart) {
  const std::string tmp = helm_.config().stateDir + "/tmp";
  std::error_code ec;
  fs::create_directories(tmp, ec);
  std::string templ = tmp + "/pull-XXXXXX";
  if (ec || ::mkdtemp(templ.data()) == nullptr) {
    return ChartUnavailable{chartLabel(chart) + ": cannot make a download directory in " + tmp};
  }
  const std::string dir = templ;
  ChartResolution out = ChartUnavailable{};
  const helm::HelmResult pulled = helm_.pull(ref, dir);
  if (!pulled.ok) {
    out = ChartUnavailable{chartLabel(chart) + ": helm pull from " + chart.host +
                           " failed: " + pulled.message()};
  } else {
    std::vector<fs::path> archives;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.is_regular_file(ec)) archives.push_back(entry.path());
    }
    std::optional<std::string> data;
    if (archives.size() == 1) data = readFile(archives.front());
    if (!data) {
      out = ChartUnavailable{chartLabel(chart) + ": helm pull from " + chart.host +
                             " left no single chart archive"};
    } else {
      Sha256 h;
      h.field("archive");
      h.field(*data);
      out = ChartAvailable{ref, h.hex()};
    }
  }
  fs::remove_all(dir, ec);
  return out;
}

ChartResolution ChartSource::remoteDigest(const helm::ChartRef& ref, const ResolvedChart& chart,
                                          bool fresh) {
  const std::string key = ref.registryConfig + "\n" + ref.reference + "\n" + ref.repoUrl + "\n" +
                          ref.version + (ref.plainHttp ? "\nplain" : "");
  if (!fresh) {
    if (auto digest = cachedDigest(key)) return ChartAvailable{ref, *digest, true};
  }

  ChartResolution resolved = ChartUnavailable{};
  if (chart.kind == ResolvedChart::Kind::kOci) {
    const auto shown = helm_.showChart(ref);
    if (!shown.ok()) {
      return ChartUnavailable{chartLabel(chart) + ": helm show chart from " + chart.host +
                              " failed: " + shown.result.message()};
    }
    // helm reports the manifest digest of what it pulled; should it ever not, the archive's
    // own bytes identify the content just as well.
    resolved = shown.value.digest.empty() ? pulledDigest(ref, chart)
                                          : ChartAvailable{ref, shown.value.digest};
  } else {
    resolved = pulledDigest(ref, chart);
  }
  if (const auto* available = std::get_if<ChartAvailable>(&resolved)) {
    cacheDigest(key, available->digest);
  }
  return resolved;
}

ChartResolution ChartSource::resolve(const std::string& environment, const std::string& ns,
                                     const ChartsSpec& charts, const ResolvedChart& chart,
                                     bool fresh) {
  helm::ChartRef ref = chartRefOf(chart);
  // "https://user:password@host/...": helm must see it, nothing it prints may show it.
  for (const std::string* url : {&ref.reference, &ref.repoUrl}) {
    if (const std::string info = userinfoOf(*url); !info.empty()) {
      helm_.addSecret(info);
      if (const std::size_t colon = info.find(':'); colon != std::string::npos) {
        helm_.addSecret(info.substr(colon + 1));
      }
    }
  }
  if (chart.kind == ResolvedChart::Kind::kLocalPath) {
    // Read on every resolve: no process, and an edit at the same version is seen at once.
    std::string error;
    auto digest = localChartDigest(ref.reference, error);
    if (!digest) return ChartUnavailable{chartLabel(chart) + ": " + error, true};
    return ChartAvailable{std::move(ref), std::move(*digest)};
  }
  if (!charts.credentialsSecret.empty()) {
    const std::string where = "Secret " + ns + "/" + charts.credentialsSecret;
    const std::string field = "spec.charts.credentialsSecretRef: ";
    auto secret = client_->get(kube::resources::secrets(), ns, charts.credentialsSecret);
    if (!secret) {
      if (secret.error().isNotFound()) {
        return ChartUnavailable{chartLabel(chart) + ": " + field + where + " not found", true};
      }
      return ChartUnavailable{chartLabel(chart) + ": cannot read the credentials " + where + ": " +
                              secret.error().describe()};
    }
    auto parsed = parseDockerConfigSecret(secret.value());
    if (const auto* error = std::get_if<std::string>(&parsed)) {
      return ChartUnavailable{chartLabel(chart) + ": " + field + *error, true};
    }
    const RegistryCredentials& credentials = std::get<RegistryCredentials>(parsed);
    const std::string host = registryHostOf(chart.host);
    const RegistryLogin* login = credentials.find(host);
    // The repository's own host must have a login; a chart named by a full reference elsewhere
    // (a public registry) is pulled anonymously unless the Secret has a login for it too.
    const bool repositoryHost =
        !charts.repository.empty() && registryHostOf(charts.repository) == host;
    if (chart.kind == ResolvedChart::Kind::kHttpsRepo && (login != nullptr || repositoryHost)) {
      return ChartUnavailable{chartLabel(chart) + ": " + field + "logins are supported for OCI " +
                                  "registries only (helm takes an https repository's password " +
                                  "only as an argument, which would expose it)",
                              true};
    }
    if (login == nullptr && repositoryHost) {
      return ChartUnavailable{
          chartLabel(chart) + ": " + field + where + " has no login for " + host, true};
    }
    std::string caPem;
    if (const nlohmann::json data = secret.value().value("data", nlohmann::json::object());
        data.is_object() && data.contains("ca.crt") && data["ca.crt"].is_string()) {
      caPem = kube::decodeBase64(data["ca.crt"].get<std::string>()).value_or("");
    }
    if (!caPem.empty()) {
      if (std::string error = writeCa(environment, caPem, ref.caFile); !error.empty()) {
        return ChartUnavailable{chartLabel(chart) + ": " + where + " ca.crt: " + error};
      }
    }
    if (login != nullptr) {
      const std::string error =
          ensureLogin(environment, host, *login, chart.plainHttp, ref.caFile, caPem);
      if (!error.empty()) {
        return ChartUnavailable{chartLabel(chart) + ": helm registry login to " + host + " as " +
                                login->username + " (" + where + ") failed: " + error};
      }
      ref.registryConfig = registryConfigPath(environment);
    }
  }
  return remoteDigest(ref, chart, fresh);
}

void ChartSource::forget(const std::string& environment) {
  const std::string path = registryConfigPath(environment);
  std::shared_ptr<Logins> logins;
  {
    std::lock_guard lock(mu_);
    auto it = logins_.find(environment);
    if (it != logins_.end()) {
      logins = it->second;
      logins_.erase(it);
    }
    const std::string prefix = path + "\n";
    std::erase_if(digests_, [&](const auto& entry) { return entry.first.starts_with(prefix); });
  }
  // Wait for a login that is still running, so the file it writes is removed too.
  std::unique_lock<std::mutex> wait;
  if (logins) wait = std::unique_lock<std::mutex>(logins->mu);
  std::error_code ec;
  fs::remove(path, ec);
  fs::remove(helm_.config().stateDir + "/registry/" + fileNameFor(environment) + "-ca.crt", ec);
}

}  // namespace envop::environment
