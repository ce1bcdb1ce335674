// ChartSource against the real thing: a registry that wants a login (Debian's docker-registry
// with htpasswd auth), a dockerconfigjson Secret on the real control plane, real helm. A chart of
// the private registry resolves to the digest the push reported and installs with the ref it
// comes back with; the password is in no helm child's command line while it runs; a wrong
// password is the registry's 401, a stopped registry is unavailable — never a digest; and a
// local chart path installs and rolls out an edit made at the same version.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/metric_family.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "controller/environment/chart_source.h"
#include "controller/util/metrics.h"
#include "test/support/charts.h"
#include "test/support/clients.h"
#include "test/support/local_cluster.h"

namespace envop::testing {
namespace {

namespace fs = std::filesystem;
using environment::ChartAvailable;
using environment::ChartResolution;
using environment::ChartSource;
using environment::ChartSourceOptions;
using environment::ChartsSpec;
using environment::ChartUnavailable;
using environment::ResolvedChart;
using Json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

void writeFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// A chart of one ConfigMap named <release>-settings whose data says `greeting`.
fs::path makeChart(const fs::path& dir, const std::string& greeting) {
  writeFile(dir / "Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\nappVersion: \"1.0\"\n");
  writeFile(dir / "templates/configmap.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\n"
            "data:\n  greeting: " +
                greeting + "\n");
  return dir;
}

std::string base64(const std::string& text) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < text.size(); i += 3) {
    const unsigned n = (static_cast<unsigned char>(text[i]) << 16) |
                       (static_cast<unsigned char>(text[i + 1]) << 8) |
                       static_cast<unsigned char>(text[i + 2]);
    for (int shift : {18, 12, 6, 0}) out.push_back(kAlphabet[(n >> shift) & 63]);
  }
  if (i < text.size()) {
    unsigned n = static_cast<unsigned char>(text[i]) << 16;
    if (i + 1 < text.size()) n |= static_cast<unsigned char>(text[i + 1]) << 8;
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(i + 1 < text.size() ? kAlphabet[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

// envop_helm_operations_total{op} summed over results, from this process's registry.
double helmRuns(const std::string& op) {
  double n = 0;
  for (const auto& family : util::metricsRegistry().Collect()) {
    if (family.name != "envop_helm_operations_total") continue;
    for (const auto& metric : family.metric) {
      for (const auto& label : metric.label) {
        if (label.name == "op" && label.value == op) n += metric.counter.value;
      }
    }
  }
  return n;
}

// The command lines (and environments) of this process's children, read from /proc as often as
// it can while `during` runs: what anyone on the host could read of a helm child.
struct ChildWatch {
  std::set<std::string> cmdlines;
  std::set<std::string> environments;
};

std::string readProc(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::replace(text.begin(), text.end(), '\0', ' ');
  return text;
}

template <typename F>
ChildWatch watchChildren(F&& during) {
  ChildWatch seen;
  std::atomic<bool> done{false};
  const std::string self = std::to_string(::getpid());
  std::thread watcher([&] {
    while (!done.load()) {
      std::error_code ec;
      for (const auto& entry : fs::directory_iterator("/proc", ec)) {
        const std::string pid = entry.path().filename().string();
        if (pid.empty() || !std::isdigit(static_cast<unsigned char>(pid[0]))) continue;
        const std::string stat = readProc(entry.path() / "stat");
        // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
        const std::size_t close = stat.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream fields(stat.substr(close + 1));
        std::string state, ppid;
        fields >> state >> ppid;
        if (ppid != self) continue;
        const std::string cmdline = readProc(entry.path() / "cmdline");
        if (cmdline.find("helm") == std::string::npos) continue;  // not exec'd yet
        seen.cmdlines.insert(cmdline);
        seen.environments.insert(readProc(entry.path() / "environ"));
      }
    }
  });
  during();
  done = true;
  watcher.join();
  return seen;
}

class PrivateRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const LocalCluster& cluster = LocalCluster::get();
    helmBinary_ = cluster.binDir() + "/helm";
    root_ = fs::temp_directory_path() / uniqueName("envop-private-charts");
    ns_ = uniqueName("charts");
    ASSERT_EQ(cluster.kubectl({"create", "namespace", ns_}).exitCode, 0);
    account_ = {"envop-ci", "Pw-" + uniqueName("registry") + "-x9"};
    registry_ = std::make_unique<TestRegistry>(account_);
    pushed_ = pushChart(*registry_, helmBinary_, makeChart(root_ / "src/web", "private").string(),
                        "0.1.0", "private");
    helm_ = std::make_unique<helm::HelmDriver>(helm::HelmConfig{
        .helmBinary = helmBinary_,
        .kubeconfig = cluster.kubeconfig(),
        .stateDir = (root_ / "state").string(),
        .defaultTimeout = 60s,
    });
    client_ = adminClient();
    charts_ = {.repository = "oci://" + registry_->host + "/private",
               .credentialsSecret = "chart-login"};
  }
  void TearDown() override {
    LocalCluster::get().kubectl({"delete", "namespace", ns_, "--ignore-not-found", "--wait=false"});
    registry_.reset();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  void putCredentials(const std::string& password) {
    const std::string auths =
        Json{{"auths",
              {{registry_->host, {{"username", account_.username}, {"password", password}}}}}}
            .dump();
    const Json secret = {{"apiVersion", "v1"},
                         {"kind", "Secret"},
                         {"type", "kubernetes.io/dockerconfigjson"},
                         {"metadata", {{"name", "chart-login"}, {"namespace", ns_}}},
                         {"data", {{".dockerconfigjson", base64(auths)}}}};
    auto applied = client_->apply(kube::resources::secrets(), secret);
    ASSERT_TRUE(applied) << applied.error().describe();
  }

  ResolvedChart web(const ChartsSpec& charts) {
    environment::ReleaseSpec release;
    release.name = "web";
    release.chart = "web";
    release.version = "0.1.0";
    auto resolved = environment::resolveChart(charts, release);
    EXPECT_TRUE(std::holds_alternative<ResolvedChart>(resolved)) << std::get<std::string>(resolved);
    return std::get<ResolvedChart>(resolved);
  }

  std::string greeting(const std::string& release) {
    const CommandResult r = LocalCluster::get().kubectl(
        {"get", "configmap", release + "-settings", "-n", ns_, "-o", "jsonpath={.data.greeting}"});
    return r.exitCode == 0 ? r.out : "<" + r.err + ">";
  }

  std::string helmBinary_;
  fs::path root_;
  std::string ns_;
  RegistryAccount account_;
  std::unique_ptr<TestRegistry> registry_;
  PushedChart pushed_;
  std::unique_ptr<helm::HelmDriver> helm_;
  kube::ClientPtr client_;
  ChartsSpec charts_;
};

TEST_F(PrivateRegistryTest, ResolvesWithTheSecretsLoginAndInstalls) {
  putCredentials(account_.password);
  ChartSource source(client_, *helm_);
  const double loginsBefore = helmRuns("login");
  ChartResolution resolution;
  const ChildWatch seen =
      watchChildren([&] { resolution = source.resolve("pro", ns_, charts_, web(charts_)); });
  ASSERT_TRUE(std::holds_alternative<ChartAvailable>(resolution))
      << std::get<ChartUnavailable>(resolution).message;
  const ChartAvailable& available = std::get<ChartAvailable>(resolution);
  EXPECT_EQ(available.digest, pushed_.digest) << "the manifest digest helm push reported";
  EXPECT_EQ(helmRuns("login") - loginsBefore, 1);

  // The login was watched running, and neither its argv nor any helm child's had the password.
  bool sawLogin = false;
  for (const std::string& cmdline : seen.cmdlines) {
    sawLogin = sawLogin || cmdline.find("registry login") != std::string::npos;
    EXPECT_THAT(cmdline, Not(HasSubstr(account_.password)));
  }
  EXPECT_TRUE(sawLogin) << "no helm registry login seen in /proc; seen: " << seen.cmdlines.size();
  for (const std::string& env : seen.environments) {
    EXPECT_THAT(env, Not(HasSubstr(account_.password)));
  }
  EXPECT_EQ(available.ref.registryConfig, source.registryConfigPath("pro"));
  EXPECT_EQ(fs::status(available.ref.registryConfig).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);

  // The driver's own registry config knows nothing of the login: without the Environment's
  // file the registry says no.
  helm::ChartRef anonymous = available.ref;
  anonymous.registryConfig.clear();
  EXPECT_FALSE(helm_->showChart(anonymous).ok());

  auto installed = helm_->upgradeInstall("web", ns_, available.ref, Json::object(),
                                         {.wait = false, .timeout = 60s});
  ASSERT_TRUE(installed.ok()) << installed.result.message();
  EXPECT_EQ(installed.value.revision, 1);
  EXPECT_EQ(greeting("web"), "private");

  // A second resolve with the Secret unchanged runs no helm at all (digest cached, no login).
  const double showsBefore = helmRuns("show");
  const ChartResolution again = source.resolve("pro", ns_, charts_, web(charts_));
  ASSERT_TRUE(std::holds_alternative<ChartAvailable>(again));
  EXPECT_EQ(std::get<ChartAvailable>(again).digest, pushed_.digest);
  EXPECT_EQ(helmRuns("login") - loginsBefore, 1);
  EXPECT_EQ(helmRuns("show"), showsBefore);
}

TEST_F(PrivateRegistryTest, WrongPasswordIsTheRegistrys401) {
  const std::string wrong = "Wrong-" + account_.password;
  putCredentials(wrong);
  ChartSource source(client_, *helm_);
  const ChartResolution r = source.resolve("pro", ns_, charts_, web(charts_));
  ASSERT_TRUE(std::holds_alternative<ChartUnavailable>(r))
      << "digest " << std::get<ChartAvailable>(r).digest;
  const ChartUnavailable& u = std::get<ChartUnavailable>(r);
  EXPECT_FALSE(u.stalled);
  EXPECT_THAT(u.message, HasSubstr("401"));
  EXPECT_THAT(u.message, HasSubstr("unauthorized"));
  EXPECT_THAT(u.message, HasSubstr(registry_->host));
  EXPECT_THAT(u.message, Not(HasSubstr(wrong)));
  EXPECT_THAT(u.message, Not(HasSubstr(account_.password)));

  // No Secret at all: a human must act.
  ASSERT_TRUE(client_->remove(kube::resources::secrets(), ns_, "chart-login"));
  const ChartResolution missing = source.resolve("pro", ns_, charts_, web(charts_));
  ASSERT_TRUE(std::holds_alternative<ChartUnavailable>(missing));
  EXPECT_TRUE(std::get<ChartUnavailable>(missing).stalled);
  EXPECT_THAT(std::get<ChartUnavailable>(missing).message, HasSubstr("chart-login not found"));
}

TEST_F(PrivateRegistryTest, StoppedRegistryIsUnavailableNotADigest) {
  putCredentials(account_.password);
  auto clock = std::make_shared<util::FakeClock>();
  ChartSource source(client_, *helm_, ChartSourceOptions{.digestTtl = 300s, .clock = clock});
  const ChartResolution up = source.resolve("pro", ns_, charts_, web(charts_));
  ASSERT_TRUE(std::holds_alternative<ChartAvailable>(up)) << std::get<ChartUnavailable>(up).message;

  registry_->stop();
  clock->advance(301s);  // the cached digest has expired: the registry must be asked
  const ChartResolution down = source.resolve("pro", ns_, charts_, web(charts_));
  ASSERT_TRUE(std::holds_alternative<ChartUnavailable>(down))
      << "a digest while the registry is down: " << std::get<ChartAvailable>(down).digest;
  const ChartUnavailable& u = std::get<ChartUnavailable>(down);
  EXPECT_FALSE(u.stalled);
  EXPECT_THAT(u.message, HasSubstr(registry_->host));
  EXPECT_THAT(u.message, HasSubstr("connection refused"));
}

TEST_F(PrivateRegistryTest, LocalChartPathInstallsAndAnEditAtTheSameVersionRollsOut) {
  // A relative path as a user writes it in spec.releases[].chart, under the working directory.
  const std::string relative = uniqueName("local-charts") + "/web";
  const fs::path dir = fs::current_path() / relative;
  makeChart(dir, "local-one");
  ChartSource source(client_, *helm_);
  environment::ReleaseSpec release;
  release.name = "local";
  release.chart = relative;
  release.version = "0.1.0";
  auto resolved = environment::resolveChart({}, release);
  ASSERT_TRUE(std::holds_alternative<ResolvedChart>(resolved));

  const ChartResolution first = source.resolve("dev", ns_, {}, std::get<ResolvedChart>(resolved));
  ASSERT_TRUE(std::holds_alternative<ChartAvailable>(first))
      << std::get<ChartUnavailable>(first).message;
  const ChartAvailable& one = std::get<ChartAvailable>(first);
  EXPECT_EQ(one.ref.reference, dir.string());
  auto installed = helm_->upgradeInstall("local", ns_, one.ref, Json::object(), {.wait = false});
  ASSERT_TRUE(installed.ok()) << installed.result.message();
  EXPECT_EQ(greeting("local"), "local-one");

  makeChart(dir, "local-two");  // Chart.yaml still says 0.1.0
  const ChartResolution second = source.resolve("dev", ns_, {}, std::get<ResolvedChart>(resolved));
  ASSERT_TRUE(std::holds_alternative<ChartAvailable>(second));
  const ChartAvailable& two = std::get<ChartAvailable>(second);
  EXPECT_NE(two.digest, one.digest);
  auto upgraded = helm_->upgradeInstall("local", ns_, two.ref, Json::object(), {.wait = false});
  ASSERT_TRUE(upgraded.ok()) << upgraded.result.message();
  EXPECT_EQ(upgraded.value.revision, 2);
  EXPECT_EQ(greeting("local"), "local-two");
  std::error_code ec;
  fs::remove_all(dir.parent_path(), ec);
}

TEST_F(PrivateRegistryTest, TheCrdTakesCredentialsSecretRef) {
  const auto dryRun = [&](const Json& ref) {
    const std::string name = uniqueName("creds");
    const Json manifest = {
        {"apiVersion", "envop.io/v1alpha1"},
        {"kind", "Environment"},
        {"metadata", {{"name", name}}},
        {"spec",
         {{"stage", "test"},
          {"charts", {{"repository", charts_.repository}, {"credentialsSecretRef", ref}}}}}};
    const fs::path file = root_ / (name + ".json");
    writeFile(file, manifest.dump());
    return LocalCluster::get().kubectl(
        {"apply", "--validate=strict", "--dry-run=server", "-o", "json", "-f", file.string()});
  };
  const CommandResult ok = dryRun({{"name", "chart-login"}});
  ASSERT_EQ(ok.exitCode, 0) << ok.err;
  EXPECT_EQ(Json::parse(ok.out)["spec"]["charts"]["credentialsSecretRef"]["name"], "chart-login");
  for (const Json& bad : {Json{{"name", "Bad_Name"}}, Json::object()}) {
    const CommandResult refused = dryRun(bad);
    EXPECT_NE(refused.exitCode, 0) << bad.dump();
    EXPECT_THAT(refused.err, HasSubstr("spec.charts.credentialsSecretRef")) << bad.dump();
  }
}

}  // namespace
}  // namespace envop::testing
