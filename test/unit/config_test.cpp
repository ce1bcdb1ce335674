#include "controller/kube/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <thread>
#include <vector>

namespace envop::kube {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

const std::string kCa = "-----BEGIN CERTIFICATE-----\nCA-BYTES\n-----END CERTIFICATE-----\n";
const std::string kCert = "-----BEGIN CERTIFICATE-----\nCLIENT-CERT\n-----END CERTIFICATE-----\n";
const std::string kEcKey =
    "-----BEGIN EC PRIVATE KEY-----\nKEYBYTES-SECRET-EC\n-----END EC PRIVATE KEY-----\n";
const std::string kRsaKey =
    "-----BEGIN RSA PRIVATE KEY-----\nKEYBYTES-SECRET-RSA\n-----END RSA PRIVATE KEY-----\n";
const std::string kToken = "TOPSECRET-TOKEN-abc123";

std::string encode(const std::string& in) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (const unsigned char c : in) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(buffer >> bits) & 0x3F]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (6 - bits)) & 0x3F]);
  while (out.size() % 4 != 0) out.push_back('=');
  return out;
}

std::string replaceAll(std::string text, const std::string& from, const std::string& to) {
  for (auto pos = text.find(from); pos != std::string::npos;
       pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

// @CA@, @CERT@, @KEY@ and @TOKEN@ stand for the base64 blobs and the token in kubeconfig texts.
std::string expand(const std::string& yaml) {
  std::string out = replaceAll(yaml, "@CA@", encode(kCa));
  out = replaceAll(out, "@CERT@", encode(kCert));
  out = replaceAll(out, "@KEY@", encode(kEcKey));
  return replaceAll(out, "@TOKEN@", kToken);
}

EnvLookup mapEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) / ("envop-" + std::string(info->test_suite_name()) + "-" +
                                             info->name() + "-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& relative, const std::string& content) {
    const fs::path p = dir_ / relative;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }

  fs::path dir_;
};

const char* kFullKubeconfig = R"(apiVersion: v1
kind: Config
current-context: admin@prod
clusters:
- name: prod
  cluster:
    server: https://10.0.0.1:6443/
    certificate-authority-data: @CA@
    tls-server-name: kubernetes.default
- name: lab
  cluster:
    server: https://lab.example:443
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    client-certificate-data: @CERT@
    client-key-data: @KEY@
- name: robot
  user:
    token: @TOKEN@
contexts:
- name: admin@prod
  context: {cluster: prod, user: admin, namespace: envop-system}
- name: robot@lab
  context: {cluster: lab, user: robot}
- name: anon@lab
  context: {cluster: lab}
)";

using KubeconfigTest = TempDirTest;

TEST_F(KubeconfigTest, LoadsCurrentContextWithDataFields) {
  const std::string path = write("kubeconfig", expand(kFullKubeconfig));
  const auto loaded = loadKubeconfig(path);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const Config& c = loaded.value();
  EXPECT_EQ(c.server, "https://10.0.0.1:6443");
  EXPECT_EQ(c.caPem, kCa);
  EXPECT_EQ(c.clientCertPem, kCert);
  EXPECT_EQ(c.clientKeyPem, kEcKey);
  EXPECT_EQ(c.tlsServerName, "kubernetes.default");
  EXPECT_EQ(c.namespace_, "envop-system");
  EXPECT_EQ(c.source, path);
  EXPECT_FALSE(c.insecureSkipTlsVerify);
  EXPECT_EQ(c.bearerToken(), "");
}

TEST_F(KubeconfigTest, ContextOverrideSelectsAnotherClusterAndUser) {
  const std::string path = write("kubeconfig", expand(kFullKubeconfig));
  const auto loaded = loadKubeconfig(path, "robot@lab");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded.value().server, "https://lab.example:443");
  EXPECT_TRUE(loaded.value().insecureSkipTlsVerify);
  EXPECT_TRUE(loaded.value().caPem.empty());
  EXPECT_EQ(loaded.value().bearerToken(), kToken);
  EXPECT_EQ(loaded.value().tokenSource, nullptr);
}

TEST_F(KubeconfigTest, ContextWithoutUserIsAnonymous) {
  const auto loaded = loadKubeconfig(write("kubeconfig", expand(kFullKubeconfig)), "anon@lab");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_TRUE(loaded.value().clientCertPem.empty());
  EXPECT_EQ(loaded.value().bearerToken(), "");
}

TEST_F(KubeconfigTest, ResolvesFilePathsAgainstTheKubeconfigDirectory) {
  write("conf/pki/ca.crt", kCa);
  write("conf/pki/client.crt", kCert);
  write("conf/pki/client.key", kRsaKey);
  write("conf/token", kToken + "\n");
  const std::string path = write("conf/kubeconfig", R"(current-context: dev
clusters:
- name: dev
  cluster: {server: "http://127.0.0.1:8080", certificate-authority: pki/ca.crt}
users:
- name: dev
  user:
    client-certificate: pki/client.crt
    client-key: ./pki/../pki/client.key
    tokenFile: token
contexts:
- name: dev
  context: {cluster: dev, user: dev}
)");
  const auto loaded = loadKubeconfig(path);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const Config& c = loaded.value();
  EXPECT_EQ(c.server, "http://127.0.0.1:8080");
  EXPECT_EQ(c.caPem, kCa);
  EXPECT_EQ(c.clientCertPem, kCert);
  EXPECT_EQ(c.clientKeyPem, kRsaKey);
  ASSERT_NE(c.tokenSource, nullptr);
  EXPECT_EQ(c.tokenSource->path(), (dir_ / "conf" / "token").string());
  EXPECT_EQ(c.bearerToken(), kToken);  // trailing newline trimmed
}

struct BadCase {
  const char* name;
  std::string yaml;     // empty: the file is not written at all
  std::string context;  // the context override
  std::vector<std::string> mustMention;
};

TEST_F(KubeconfigTest, BadKubeconfigsYieldErrorsNamingTheProblemAndNoSecret) {
  const std::string head =
      "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n";
  const std::string okCluster = "clusters:\n- name: k\n  cluster: {server: 'https://k:6443'}\n";
  const std::string okUser = "users:\n- name: u\n  user: {token: @TOKEN@}\n";
  auto user = [&](const std::string& body) {
    return head + okCluster + "users:\n- name: u\n  user:\n" + body;
  };
  auto cluster = [&](const std::string& body) {
    return head + okUser + "clusters:\n- name: k\n  cluster:\n" + body;
  };
  const std::vector<BadCase> cases = {
      {"missing file", "", "", {"cannot read", "No such file"}},
      {"bad yaml", "clusters: [unclosed\n  users: {", "", {"invalid YAML", "line"}},
      {"not a mapping", "- just\n- a list\n", "", {"expected a YAML mapping"}},
      {"no current-context", okCluster + okUser, "", {"current-context is not set"}},
      {"unknown context", head + okCluster + okUser, "other", {"contexts", "\"other\""}},
      {"unknown cluster",
       head + okUser + "clusters: []\n",
       "",
       {"clusters", "\"k\"", "context \"c\""}},
      {"unknown user",
       head + okCluster + "users:\n- name: x\n  user: {}\n",
       "",
       {"users", "\"u\"", "named by context \"c\""}},
      {"clusters not a list",
       head + okUser + "clusters: {k: 1}\n",
       "",
       {"clusters must be a list"}},
      {"context without cluster",
       "current-context: c\ncontexts:\n- name: c\n  context: {user: u}\n" + okCluster + okUser,
       "",
       {"context \"c\"", "cluster is missing"}},
      {"missing server",
       cluster("    certificate-authority-data: @CA@\n"),
       "",
       {"cluster \"k\"", "server is missing"}},
      {"server not a URL",
       cluster("    server: k:6443\n"),
       "",
       {"cluster \"k\"", "server must be"}},
      {"server is a mapping", cluster("    server: {host: k}\n"), "", {"server must be a string"}},
      {"bad base64 CA",
       cluster("    server: https://k\n    certificate-authority-data: '!!notbase64'\n"),
       "",
       {"cluster \"k\"", "certificate-authority-data", "base64"}},
      {"CA file missing",
       cluster("    server: https://k\n    certificate-authority: nope/ca.crt\n"),
       "",
       {"certificate-authority", "nope/ca.crt", "No such file"}},
      {"CA and insecure",
       cluster("    server: https://k\n    certificate-authority-data: @CA@\n"
               "    insecure-skip-tls-verify: true\n"),
       "",
       {"insecure-skip-tls-verify"}},
      {"insecure not a bool",
       cluster("    server: https://k\n    insecure-skip-tls-verify: maybe\n"),
       "",
       {"insecure-skip-tls-verify must be true or false"}},
      {"bad base64 key",
       user("    client-certificate-data: @CERT@\n    client-key-data: '@KEY@%'\n"),
       "",
       {"user \"u\"", "client-key-data", "base64"}},
      {"key data is not a key",
       user("    client-certificate-data: @CERT@\n    client-key-data: @CERT@\n"),
       "",
       {"client-key-data", "PEM private key"}},
      {"cert without key",
       user("    client-certificate-data: @CERT@\n"),
       "",
       {"user \"u\"", "client-certificate and client-key"}},
      {"cert twice",
       user("    client-certificate-data: @CERT@\n    client-certificate: c.crt\n"
            "    client-key-data: @KEY@\n"),
       "",
       {"both client-certificate-data and client-certificate"}},
      {"exec without apiVersion",
       user("    exec: {command: aws, interactiveMode: Never}\n"),
       "",
       {"user \"u\"", "exec", "apiVersion", "missing"}},
      {"exec with an old apiVersion",
       user("    exec: {command: aws, apiVersion: client.authentication.k8s.io/v1alpha1}\n"),
       "",
       {"exec", "apiVersion", "v1alpha1"}},
      {"exec without command",
       user("    exec: {apiVersion: client.authentication.k8s.io/v1beta1}\n"),
       "",
       {"exec", "command is missing"}},
      {"exec v1 without interactiveMode",
       user("    exec: {command: aws, apiVersion: client.authentication.k8s.io/v1}\n"),
       "",
       {"exec", "interactiveMode is missing"}},
      {"exec that needs a terminal",
       user("    exec: {command: aws, apiVersion: client.authentication.k8s.io/v1,"
            " interactiveMode: Always}\n"),
       "",
       {"exec", "Always", "terminal"}},
      {"exec env not a list",
       user("    exec: {command: aws, apiVersion: client.authentication.k8s.io/v1beta1,"
            " env: {A: b}}\n"),
       "",
       {"exec", "env must be a list"}},
      {"auth-provider",
       user("    auth-provider: {name: oidc, config: {id-token: @TOKEN@}}\n"),
       "",
       {"user \"u\"", "auth-provider", "not supported"}},
      {"basic auth",
       user("    username: admin\n    password: hunter2-password\n"),
       "",
       {"user \"u\"", "basic auth"}},
      {"token file missing",
       user("    tokenFile: missing-token\n"),
       "",
       {"user \"u\"", "tokenFile", "missing-token"}},
  };
  for (const BadCase& bad : cases) {
    SCOPED_TRACE(bad.name);
    const std::string path = (dir_ / (std::string(bad.name) + ".yaml")).string();
    if (!bad.yaml.empty()) write(std::string(bad.name) + ".yaml", expand(bad.yaml));
    const auto loaded = loadKubeconfig(path, bad.context);
    ASSERT_FALSE(loaded.ok());
    const std::string& message = loaded.error().message;
    EXPECT_NE(message.find(path), std::string::npos) << message;  // names the file
    for (const std::string& word : bad.mustMention) {
      EXPECT_NE(message.find(word), std::string::npos) << "'" << word << "' not in: " << message;
    }
    for (const std::string& secret :
         {kToken, std::string("KEYBYTES"), std::string("hunter2"), encode(kEcKey)}) {
      EXPECT_EQ(message.find(secret), std::string::npos) << message;
    }
  }
  EXPECT_GE(cases.size(), 10u);
}

using ConfigInClusterTest = TempDirTest;

TEST_F(ConfigInClusterTest, BuildsServerTokenCaAndNamespace) {
  write("sa/token", kToken);
  write("sa/ca.crt", kCa);
  write("sa/namespace", "envop-system\n");
  const auto loaded = loadInCluster(
      (dir_ / "sa").string(),
      mapEnv({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}}));
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded.value().server, "https://10.96.0.1:443");
  EXPECT_EQ(loaded.value().caPem, kCa);
  EXPECT_EQ(loaded.value().bearerToken(), kToken);
  EXPECT_EQ(loaded.value().namespace_, "envop-system");
  EXPECT_EQ(loaded.value().source, "in-cluster");
}

TEST_F(ConfigInClusterTest, BracketsAnIpv6HostAndToleratesNoNamespaceFile) {
  write("sa/token", kToken);
  write("sa/ca.crt", kCa);
  const auto loaded = loadInCluster(
      (dir_ / "sa").string(),
      mapEnv({{"KUBERNETES_SERVICE_HOST", "fd00::1"}, {"KUBERNETES_SERVICE_PORT", "6443"}}));
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded.value().server, "https://[fd00::1]:6443");
  EXPECT_EQ(loaded.value().namespace_, "");
}

TEST_F(ConfigInClusterTest, MissingPiecesAreNamed) {
  const auto env = mapEnv({{"KUBERNETES_SERVICE_HOST", "h"}, {"KUBERNETES_SERVICE_PORT", "1"}});
  const std::string root = (dir_ / "sa").string();
  auto noEnv = loadInCluster(root, mapEnv({{"KUBERNETES_SERVICE_HOST", "h"}}));
  ASSERT_FALSE(noEnv.ok());
  EXPECT_NE(noEnv.error().message.find("KUBERNETES_SERVICE_PORT"), std::string::npos);
  auto noToken = loadInCluster(root, env);
  ASSERT_FALSE(noToken.ok());
  EXPECT_NE(noToken.error().message.find(root + "/token"), std::string::npos);
  write("sa/token", kToken);
  auto noCa = loadInCluster(root, env);
  ASSERT_FALSE(noCa.ok());
  EXPECT_NE(noCa.error().message.find("ca.crt"), std::string::npos);
  EXPECT_EQ(noCa.error().message.find(kToken), std::string::npos);
}

class ConfigResolveTest : public TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    flagFile_ = write("flag/config", expand(kFullKubeconfig));
    envFile_ = write("env/config", expand(replaceAll(kFullKubeconfig, "10.0.0.1", "10.0.0.2")));
    write("home/.kube/config", expand(replaceAll(kFullKubeconfig, "10.0.0.1", "10.0.0.3")));
    write("sa/token", kToken);
    write("sa/ca.crt", kCa);
    saRoot_ = (dir_ / "sa").string();
  }
  std::string serverOf(const std::string& flag, std::map<std::string, std::string> env) {
    const auto loaded = resolveConfig(flag, mapEnv(std::move(env)), util::steadyClock(), saRoot_);
    return loaded.ok() ? loaded.value().server : "error: " + loaded.error().message;
  }

  std::string flagFile_, envFile_, saRoot_;
};

TEST_F(ConfigResolveTest, FollowsTheDocumentedOrder) {
  std::map<std::string, std::string> env = {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                                            {"KUBERNETES_SERVICE_PORT", "443"},
                                            {"KUBECONFIG", envFile_},
                                            {"HOME", (dir_ / "home").string()}};
  EXPECT_EQ(serverOf(flagFile_, env), "https://10.0.0.1:6443");  // the flag wins
  EXPECT_EQ(serverOf("", env), "https://10.96.0.1:443");         // then in-cluster
  env.erase("KUBERNETES_SERVICE_HOST");
  EXPECT_EQ(serverOf("", env), "https://10.0.0.2:6443");  // then $KUBECONFIG
  env.erase("KUBECONFIG");
  EXPECT_EQ(serverOf("", env), "https://10.0.0.3:6443");  // then ~/.kube/config
}

TEST_F(ConfigResolveTest, InClusterNeedsTheTokenFile) {
  fs::remove(dir_ / "sa" / "token");
  EXPECT_EQ(serverOf("", {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                          {"KUBERNETES_SERVICE_PORT", "443"},
                          {"KUBECONFIG", envFile_}}),
            "https://10.0.0.2:6443");
}

TEST_F(ConfigResolveTest, UsesTheFirstNonEmptyKubeconfigListEntry) {
  EXPECT_EQ(serverOf("", {{"KUBECONFIG", "::" + envFile_ + ":" + flagFile_}}),
            "https://10.0.0.2:6443");
}

TEST_F(ConfigResolveTest, NothingFoundIsAClearError) {
  const std::string noHome = serverOf("", {{"HOME", (dir_ / "nowhere").string()}});
  EXPECT_NE(noHome.find("no Kubernetes configuration"), std::string::npos) << noHome;
  EXPECT_NE(noHome.find((dir_ / "nowhere" / ".kube" / "config").string()), std::string::npos);
  const std::string flagMissing = serverOf((dir_ / "absent").string(), {});
  EXPECT_NE(flagMissing.find("absent"), std::string::npos) << flagMissing;
}

TEST(ConfigBase64Test, DecodesWithOrWithoutPaddingAndWhitespace) {
  EXPECT_EQ(decodeBase64("aGVsbG8="), "hello");
  EXPECT_EQ(decodeBase64("aGVsbG8"), "hello");
  EXPECT_EQ(decodeBase64("aGVs\nbG8=\n"), "hello");
  EXPECT_EQ(decodeBase64(encode(kEcKey)), kEcKey);
  EXPECT_EQ(decodeBase64(""), "");
  EXPECT_FALSE(decodeBase64("aGVs*G8="));
  EXPECT_FALSE(decodeBase64("aGVsbG8=x"));
  EXPECT_FALSE(decodeBase64("a"));
}

class TokenSourceTest : public TempDirTest {
 protected:
  std::shared_ptr<util::FakeClock> clock_ = std::make_shared<util::FakeClock>();
};

TEST_F(TokenSourceTest, RereadsTheFileAfterAMinute) {
  const std::string path = write("token", "one\n");
  auto opened = TokenSource::open(path, clock_);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  TokenSource& source = *opened.value();
  EXPECT_EQ(source.token(), "one");
  write("token", "two");
  clock_->advance(seconds(59));
  EXPECT_EQ(source.token(), "one");  // still cached
  clock_->advance(seconds(1));
  EXPECT_EQ(source.token(), "two");
  write("token", "three");
  clock_->advance(seconds(30));
  EXPECT_EQ(source.token(), "two");  // the clock restarted at the re-read
}

TEST_F(TokenSourceTest, InvalidateForcesAReread) {
  const std::string path = write("token", "one");
  auto source = TokenSource::open(path, clock_).value();
  write("token", "two");
  EXPECT_EQ(source->token(), "one");
  source->invalidate();
  EXPECT_EQ(source->token(), "two");
}

TEST_F(TokenSourceTest, AFailedRereadKeepsTheLastGoodTokenAndSaysWhy) {
  const std::string path = write("token", kToken);
  auto source = TokenSource::open(path, clock_).value();
  fs::remove(path);
  source->invalidate();
  EXPECT_EQ(source->token(), kToken);
  EXPECT_NE(source->lastError().find(path), std::string::npos) << source->lastError();
  EXPECT_EQ(source->lastError().find(kToken), std::string::npos);
  write("token", "   \n");
  clock_->advance(seconds(61));
  EXPECT_EQ(source->token(), kToken);
  EXPECT_NE(source->lastError().find("empty"), std::string::npos) << source->lastError();
  write("token", "fresh");
  EXPECT_EQ(source->token(), "fresh");  // still stale, so the next call retries
  EXPECT_EQ(source->lastError(), "");
}

TEST_F(TokenSourceTest, OpenFailsOnAMissingOrEmptyFile) {
  auto missing = TokenSource::open((dir_ / "absent").string(), clock_);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("absent"), std::string::npos);
  auto empty = TokenSource::open(write("empty", ""), clock_);
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().message.find("empty"), std::string::npos);
}

TEST_F(TokenSourceTest, ConcurrentCallersAlwaysGetAToken) {
  const std::string path = write("token", "a");
  auto source = TokenSource::open(path, clock_).value();
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        if (i % 50 == 0) source->invalidate();
        const std::string token = source->token();
        if (token != "a" && token != "b") ++bad;
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    write("token", i % 2 == 0 ? "b" : "a");
    clock_->advance(seconds(61));
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace envop::kube
