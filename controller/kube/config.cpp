#include "controller/kube/config.h"

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace envop::kube {
namespace {

namespace fs = std::filesystem;

// Thrown and caught only inside this file, so that a deep field check can abort the load in one
// line; the public functions turn it into a ConfigError.
struct LoadFailure {
  std::string message;
};

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

// Reads a whole file; the error names the file and the OS reason, never the content.
std::optional<std::string> readFile(const std::string& path, std::string& why) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    why = "cannot read " + path + ": is a directory";
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    why = "cannot read " + path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) {
    why = "cannot read " + path + ": read error";
    return std::nullopt;
  }
  return out.str();
}

// Relative paths inside a kubeconfig are relative to the kubeconfig itself, as in kubectl.
std::string resolveAgainst(const std::string& kubeconfigPath, const std::string& p) {
  if (p.empty() || fs::path(p).is_absolute()) return p;
  return (fs::path(kubeconfigPath).parent_path() / p).lexically_normal().string();
}

// Reads the kubeconfig's entries with field-level error messages.
class KubeconfigReader final {
 public:
  explicit KubeconfigReader(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw LoadFailure{"kubeconfig " + path_ + ": " + what};
  }

  std::string str(const YAML::Node& node, const char* key, const std::string& owner) const {
    const YAML::Node v = node[key];
    if (!v || v.IsNull()) return "";
    if (!v.IsScalar()) fail(owner + ": field " + key + " must be a string");
    return v.Scalar();
  }

  bool boolean(const YAML::Node& node, const char* key, const std::string& owner) const {
    const YAML::Node v = node[key];
    if (!v || v.IsNull()) return false;
    bool out = false;
    if (!v.IsScalar() || !YAML::convert<bool>::decode(v, out)) {
      fail(owner + ": field " + key + " must be true or false");
    }
    return out;
  }

  // The body (`cluster:`, `user:`, `context:`) of the entry called `name` in list `listKey`.
  YAML::Node named(const YAML::Node& root, const char* listKey, const char* bodyKey,
                   const std::string& name, const std::string& referrer = "") const {
    const YAML::Node list = root[listKey];
    if (list && !list.IsNull() && !list.IsSequence())
      fail(std::string(listKey) + " must be a list");
    if (list && list.IsSequence()) {
      for (const YAML::Node& entry : list) {
        if (!entry.IsMap()) fail(std::string(listKey) + ": every entry must be a mapping");
        if (str(entry, "name", listKey) != name) continue;
        const YAML::Node body = entry[bodyKey];
        if (!body || !body.IsMap()) {
          fail(std::string(listKey) + ": entry \"" + name + "\" has no " + bodyKey + " mapping");
        }
        return body;
      }
    }
    fail(std::string(listKey) + ": no entry named \"" + name + "\"" +
         (referrer.empty() ? "" : " (named by " + referrer + ")"));
  }

  // `<key>-data` (base64) or `<key>` (a file path); both at once is an error, as in kubectl.
  std::string pem(const YAML::Node& node, const std::string& key, const std::string& owner,
                  const char* pemMarker) const {
    const std::string dataKey = key + "-data";
    const std::string data = str(node, dataKey.c_str(), owner);
    const std::string file = str(node, key.c_str(), owner);
    if (!data.empty() && !file.empty()) fail(owner + ": both " + dataKey + " and " + key + " set");
    std::string bytes;
    std::string field = dataKey;
    if (!data.empty()) {
      auto decoded = decodeBase64(data);
      if (!decoded) fail(owner + ": field " + dataKey + " is not valid base64");
      bytes = std::move(*decoded);
    } else if (!file.empty()) {
      std::string why;
      auto content = readFile(resolveAgainst(path_, file), why);
      if (!content) fail(owner + ": field " + key + ": " + why);
      bytes = std::move(*content);
      field = key;
    } else {
      return "";
    }
    if (bytes.find(pemMarker) == std::string::npos) {
      fail(owner + ": field " + field + " does not hold a PEM " +
           (std::strcmp(pemMarker, "PRIVATE KEY-----") == 0 ? "private key" : "certificate"));
    }
    return bytes;
  }

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void readCluster(const KubeconfigReader& r, const YAML::Node& cluster, const std::string& owner,
                 Config& config) {
  config.server = r.str(cluster, "server", owner);
  if (config.server.empty()) r.fail(owner + ": field server is missing");
  if (config.server.rfind("https://", 0) != 0 && config.server.rfind("http://", 0) != 0) {
    r.fail(owner + ": field server must be an https:// or http:// URL");
  }
  while (config.server.size() > 1 && config.server.back() == '/') config.server.pop_back();
  config.caPem = r.pem(cluster, "certificate-authority", owner, "-----BEGIN CERTIFICATE-----");
  config.insecureSkipTlsVerify = r.boolean(cluster, "insecure-skip-tls-verify", owner);
  if (config.insecureSkipTlsVerify && !config.caPem.empty()) {
    // kubectl refuses this too: a CA that is then ignored is almost certainly a mistake.
    r.fail(owner + ": certificate-authority and insecure-skip-tls-verify are both set");
  }
  config.tlsServerName = r.str(cluster, "tls-server-name", owner);
}

// An extension's YAML as JSON, every scalar a string (the plugin parses its own config).
nlohmann::json toJson(const YAML::Node& node) {
  if (node.IsMap()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& kv : node) out[kv.first.Scalar()] = toJson(kv.second);
    return out;
  }
  if (node.IsSequence()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& item : node) out.push_back(toJson(item));
    return out;
  }
  if (node.IsScalar()) return node.Scalar();
  return nullptr;
}

// The `exec` stanza, checked as client-go checks it.
ExecPlugin readExec(const KubeconfigReader& r, const YAML::Node& exec, const std::string& owner) {
  const std::string o = owner + ": exec";
  if (!exec.IsMap()) r.fail(o + " must be a mapping");
  ExecPlugin plugin;
  plugin.apiVersion = r.str(exec, "apiVersion", o);
  if (plugin.apiVersion != "client.authentication.k8s.io/v1" &&
      plugin.apiVersion != "client.authentication.k8s.io/v1beta1") {
    r.fail(o + ": field apiVersion must be client.authentication.k8s.io/v1 or v1beta1" +
           (plugin.apiVersion.empty() ? " (it is missing)" : ", not " + plugin.apiVersion));
  }
  plugin.command = r.str(exec, "command", o);
  if (plugin.command.empty()) r.fail(o + ": field command is missing");
  // As kubectl: a command with a slash is a path, relative to the kubeconfig; a bare name is
  // looked up in PATH when it runs.
  if (plugin.command.find('/') != std::string::npos) {
    plugin.command = resolveAgainst(r.path(), plugin.command);
  }
  if (const YAML::Node args = exec["args"]; args && !args.IsNull()) {
    if (!args.IsSequence()) r.fail(o + ": field args must be a list of strings");
    for (const YAML::Node& arg : args) {
      if (!arg.IsScalar()) r.fail(o + ": field args must be a list of strings");
      plugin.args.push_back(arg.Scalar());
    }
  }
  if (const YAML::Node env = exec["env"]; env && !env.IsNull()) {
    if (!env.IsSequence()) r.fail(o + ": field env must be a list of {name, value}");
    for (const YAML::Node& entry : env) {
      if (!entry.IsMap()) r.fail(o + ": field env must be a list of {name, value}");
      const std::string name = r.str(entry, "name", o + ".env");
      if (name.empty()) r.fail(o + ": an env entry has no name");
      plugin.env.emplace_back(name, r.str(entry, "value", o + ".env"));
    }
  }
  plugin.installHint = r.str(exec, "installHint", o);
  plugin.provideClusterInfo = r.boolean(exec, "provideClusterInfo", o);
  const std::string mode = r.str(exec, "interactiveMode", o);
  if (mode.empty() && plugin.apiVersion == "client.authentication.k8s.io/v1") {
    r.fail(o + ": field interactiveMode is missing (Never or IfAvailable)");
  }
  if (mode == "Always") {
    r.fail(o + ": interactiveMode Always needs a terminal, which a controller does not have");
  }
  if (!mode.empty() && mode != "Never" && mode != "IfAvailable") {
    r.fail(o + ": field interactiveMode must be Never, IfAvailable or Always");
  }
  return plugin;
}

// KUBERNETES_EXEC_INFO's spec.cluster, in the ExecCredential's field names.
nlohmann::json clusterInfo(const YAML::Node& cluster, const Config& config) {
  nlohmann::json info = {{"server", config.server}};
  if (!config.tlsServerName.empty()) info["tls-server-name"] = config.tlsServerName;
  if (config.insecureSkipTlsVerify) info["insecure-skip-tls-verify"] = true;
  if (!config.caPem.empty()) info["certificate-authority-data"] = encodeBase64(config.caPem);
  if (const YAML::Node proxy = cluster["proxy-url"]; proxy && proxy.IsScalar()) {
    info["proxy-url"] = proxy.Scalar();
  }
  if (const YAML::Node extensions = cluster["extensions"]; extensions && extensions.IsSequence()) {
    for (const YAML::Node& ext : extensions) {
      if (ext.IsMap() && ext["name"] && ext["name"].IsScalar() &&
          ext["name"].Scalar() == "client.authentication.k8s.io/exec" && ext["extension"]) {
        info["config"] = toJson(ext["extension"]);
      }
    }
  }
  return info;
}

void readUser(const KubeconfigReader& r, const YAML::Node& user, const std::string& owner,
              const util::ClockPtr& clock, Config& config, std::optional<ExecPlugin>& exec) {
  if (user["exec"] && !user["exec"].IsNull()) exec = readExec(r, user["exec"], owner);
  if (user["auth-provider"] && !user["auth-provider"].IsNull()) {
    r.fail(owner +
           ": auth-provider is not supported; use a token, tokenFile or client "
           "certificate");
  }
  if (!r.str(user, "username", owner).empty() || !r.str(user, "password", owner).empty()) {
    r.fail(owner + ": basic auth (username/password) is not supported");
  }
  config.clientCertPem = r.pem(user, "client-certificate", owner, "-----BEGIN CERTIFICATE-----");
  config.clientKeyPem = r.pem(user, "client-key", owner, "PRIVATE KEY-----");
  if (config.clientCertPem.empty() != config.clientKeyPem.empty()) {
    r.fail(owner + ": client-certificate and client-key must be given together");
  }
  // As in client-go, a literal token is used as is; a tokenFile alone is re-read as it rotates.
  config.token = r.str(user, "token", owner);
  const std::string tokenFile = r.str(user, "tokenFile", owner);
  if (config.token.empty() && !tokenFile.empty()) {
    auto source = TokenSource::open(resolveAgainst(r.path(), tokenFile), clock);
    if (!source) r.fail(owner + ": field tokenFile: " + source.error().message);
    config.tokenSource = std::move(source.value());
  }
}

Config loadKubeconfigOrThrow(const std::string& path, const std::string& contextOverride,
                             const util::ClockPtr& clock) {
  const KubeconfigReader r(path);
  std::string why;
  const auto text = readFile(path, why);
  if (!text) throw LoadFailure{"kubeconfig: " + why};
  YAML::Node root;
  try {
    root = YAML::Load(*text);
  } catch (const YAML::Exception& e) {
    r.fail("invalid YAML at line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (!root.IsMap()) r.fail("not a kubeconfig (expected a YAML mapping)");

  const std::string contextName =
      contextOverride.empty() ? r.str(root, "current-context", "top level") : contextOverride;
  if (contextName.empty()) r.fail("current-context is not set and no context was given");
  const std::string contextOwner = "context \"" + contextName + "\"";
  const YAML::Node context = r.named(root, "contexts", "context", contextName);
  const std::string clusterName = r.str(context, "cluster", contextOwner);
  if (clusterName.empty()) r.fail(contextOwner + ": field cluster is missing");
  const std::string userName = r.str(context, "user", contextOwner);

  Config config;
  config.source = path;
  config.namespace_ = r.str(context, "namespace", contextOwner);
  const std::string clusterOwner = "cluster \"" + clusterName + "\"";
  const YAML::Node cluster = r.named(root, "clusters", "cluster", clusterName, contextOwner);
  readCluster(r, cluster, clusterOwner, config);
  if (!userName.empty()) {  // a context without a user talks to the server anonymously
    std::optional<ExecPlugin> exec;
    readUser(r, r.named(root, "users", "user", userName, contextOwner), "user \"" + userName + "\"",
             clock, config, exec);
    if (exec) {
      exec->cluster = clusterInfo(cluster, config);
      config.execCredentials = std::make_shared<ExecCredentialSource>(std::move(*exec), clock);
    }
  }
  return config;
}

int base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::string encodeBase64(const std::string& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) out.push_back(kAlphabet[(v >> shift) & 63]);
  }
  if (i < bytes.size()) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::optional<std::string> decodeBase64(const std::string& text) {
  std::string out;
  out.reserve(text.size() * 3 / 4);
  unsigned buffer = 0;
  int bits = 0;
  bool padding = false;
  for (const char c : text) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    const int v = base64Value(c);
    if (v < 0 || padding) return std::nullopt;  // a stray character, or data after padding
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  if (bits >= 6) return std::nullopt;  // one lone character cannot encode a byte
  return out;
}

EnvLookup processEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

Expected<std::shared_ptr<TokenSource>> TokenSource::open(std::string path, util::ClockPtr clock,
                                                         util::Duration maxAge) {
  auto source = std::make_shared<TokenSource>(std::move(path), std::move(clock), maxAge);
  std::lock_guard<std::mutex> lock(source->mu_);
  if (!source->readLocked()) return ConfigError{source->lastError_};
  return source;
}

TokenSource::TokenSource(std::string path, util::ClockPtr clock, util::Duration maxAge)
    : path_(std::move(path)), clock_(std::move(clock)), maxAge_(maxAge) {}

bool TokenSource::readLocked() {
  std::string why;
  auto content = readFile(path_, why);
  if (content) {
    std::string token = trim(*content);
    if (!token.empty()) {
      token_ = std::move(token);
      readAt_ = clock_->now();
      stale_ = false;
      lastError_.clear();
      return true;
    }
    why = "token file " + path_ + " is empty";
  }
  // Warn once per distinct failure: while it lasts every token() call retries, which is cheap.
  if (why != lastError_ && !token_.empty()) {
    spdlog::warn("re-reading the bearer token failed, keeping the previous one: {}", why);
  }
  lastError_ = why;
  return false;
}

std::string TokenSource::token() {
  std::lock_guard<std::mutex> lock(mu_);
  if (stale_ || clock_->now() - readAt_ >= maxAge_) readLocked();
  return token_;
}

void TokenSource::invalidate() {
  std::lock_guard<std::mutex> lock(mu_);
  stale_ = true;
}

std::string TokenSource::lastError() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lastError_;
}

std::string Config::bearerToken() const {
  if (tokenSource) return tokenSource->token();
  if (!token.empty() || !execCredentials) return token;
  auto credential = execCredentials->credential();
  return credential ? credential.value().token : "";
}

bool Config::invalidateCredentials() const {
  if (tokenSource) tokenSource->invalidate();
  if (execCredentials && token.empty()) execCredentials->invalidate();
  return tokenSource || (execCredentials && token.empty());
}

Expected<Config> loadKubeconfig(const std::string& path, const std::string& contextOverride,
                                util::ClockPtr clock) {
  try {
    return loadKubeconfigOrThrow(path, contextOverride, clock);
  } catch (const LoadFailure& f) {
    return ConfigError{f.message};
  } catch (const YAML::Exception& e) {  // e.msg names the problem, never a value
    return ConfigError{"kubeconfig " + path + ": malformed: " + e.msg};
  } catch (const std::exception& e) {
    return ConfigError{"kubeconfig " + path + ": " + e.what()};
  }
}

Expected<Config> loadInCluster(const std::string& root, const EnvLookup& env,
                               util::ClockPtr clock) {
  const std::string host = env("KUBERNETES_SERVICE_HOST").value_or("");
  const std::string port = env("KUBERNETES_SERVICE_PORT").value_or("");
  if (host.empty() || port.empty()) {
    return ConfigError{
        "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set"};
  }
  Config config;
  config.source = "in-cluster";
  const bool ipv6 = host.find(':') != std::string::npos && host.front() != '[';
  config.server = "https://" + (ipv6 ? "[" + host + "]" : host) + ":" + port;

  auto source = TokenSource::open((fs::path(root) / "token").string(), std::move(clock));
  if (!source) return ConfigError{"in-cluster: " + source.error().message};
  config.tokenSource = std::move(source.value());

  std::string why;
  auto ca = readFile((fs::path(root) / "ca.crt").string(), why);
  if (!ca) return ConfigError{"in-cluster: " + why};
  if (ca->find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return ConfigError{"in-cluster: " + (fs::path(root) / "ca.crt").string() +
                       " does not hold a PEM certificate"};
  }
  config.caPem = std::move(*ca);
  // The namespace file is optional: --namespace then falls back to its default.
  if (auto ns = readFile((fs::path(root) / "namespace").string(), why))
    config.namespace_ = trim(*ns);
  return config;
}

Expected<Config> resolveConfig(const std::string& flagPath, const EnvLookup& env,
                               util::ClockPtr clock, const std::string& inClusterRoot) {
  if (!flagPath.empty()) return loadKubeconfig(flagPath, "", std::move(clock));

  std::error_code ec;
  const bool inCluster = !env("KUBERNETES_SERVICE_HOST").value_or("").empty() &&
                         !env("KUBERNETES_SERVICE_PORT").value_or("").empty() &&
                         fs::exists(fs::path(inClusterRoot) / "token", ec);
  if (inCluster) return loadInCluster(inClusterRoot, env, std::move(clock));

  // kubectl merges every file of a colon-separated $KUBECONFIG; an operator needs one cluster, so
  // the first non-empty entry is enough.
  const std::string list = env("KUBECONFIG").value_or("");
  std::istringstream entries(list);
  for (std::string entry; std::getline(entries, entry, ':');) {
    if (!entry.empty()) return loadKubeconfig(entry, "", std::move(clock));
  }

  const std::string home = env("HOME").value_or("");
  const std::string fallback = home.empty() ? "" : (fs::path(home) / ".kube" / "config").string();
  if (fallback.empty() || !fs::exists(fallback, ec)) {
    return ConfigError{
        "no Kubernetes configuration: --kubeconfig is not set, not running in a "
        "cluster, $KUBECONFIG is empty and " +
        (fallback.empty() ? std::string("$HOME is not set") : fallback + " does not exist")};
  }
  return loadKubeconfig(fallback, "", std::move(clock));
}

}  // namespace envop::kube
