#include "test/support/secret_scan.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

namespace envop::testing {
namespace {

// A password with characters JSON must escape (quote, backslash) and Go escapes too (&).
const std::string kPassword = "s3cr\"et&pa\\ss-42";
const std::string kToken = "eyJhbGciOiJSUzI1NiJ9.tok-9f8e7d6c5b4a";

std::set<std::string> forms(const std::vector<SecretHit>& hits) {
  std::set<std::string> out;
  for (const auto& h : hits) out.insert(h.form);
  return out;
}

std::string jsonString(const std::string& s) { return nlohmann::json(s).dump(); }

// The leak in each of the three forms the issue names, in each kind of source a run leaves.
TEST(SecretScanTest, FindsASecretInEveryKindOfSourceInEveryForm) {
  const std::map<std::string, std::string> secrets = {{"registry-password", kPassword}};
  const std::string b64 = base64Encode(kPassword);
  const std::string escaped = jsonString(kPassword);  // "s3cr\"et&pa\\ss-42"
  ASSERT_EQ(kPassword.find(escaped.substr(1, escaped.size() - 2)), std::string::npos)
      << "the password must differ from its JSON escape for this test to mean anything";

  struct Case {
    std::string form;
    std::string text;
  };
  const std::vector<Case> leaks = {{"plain", kPassword},
                                   {"base64", b64},
                                   {"json-escaped", escaped.substr(1, escaped.size() - 2)}};
  for (const auto& leak : leaks) {
    const std::vector<ScanSource> sources = {
        {"log", "[info] controller=environment msg=\"login with " + leak.text + "\"\n"},
        {"event", R"({"kind":"Event","reason":"Failed","message":"auth )" + leak.text + R"("})"},
        {"status", R"({"conditions":[{"type":"Ready","message":")" + leak.text + R"("}]})"},
        {"argv", "helm upgrade --install web oci://reg/x --password " + leak.text + "\n"},
    };
    const auto hits = scanForSecrets(secrets, sources);
    std::set<std::string> where;
    for (const auto& h : hits) {
      EXPECT_EQ(h.secret, "registry-password");
      if (h.form == leak.form) where.insert(h.where);
    }
    EXPECT_EQ(where, (std::set<std::string>{"log", "event", "status", "argv"}))
        << "form " << leak.form << ":\n"
        << describeHits(hits);
  }
}

TEST(SecretScanTest, AJsonLogLineOfTheSecretIsFound) {
  // spdlog's JSON format or a serialised object: the value appears escaped, not plain.
  const nlohmann::json line = {{"msg", "values"}, {"password", kPassword}};
  const auto hits = scanForSecrets({{"pw", kPassword}}, {{"log", line.dump()}});
  ASSERT_FALSE(hits.empty());
  EXPECT_TRUE(forms(hits).count("json-escaped")) << describeHits(hits);
  // ... and quoted once more, as a JSON document inside a string field.
  const nlohmann::json outer = {{"body", line.dump()}};
  EXPECT_TRUE(forms(scanForSecrets({{"pw", kPassword}}, {{"log", outer.dump()}}))
                  .count("json-escaped-twice"));
}

TEST(SecretScanTest, GoJsonEscapingOfAmpersandIsFound) {
  // kubectl -o json writes & as \u0026.
  const std::string go = R"({"message":"s3cr\"et\u0026pa\\ss-42"})";
  EXPECT_EQ(forms(scanForSecrets({{"pw", kPassword}}, {{"event", go}})),
            (std::set<std::string>{"json-escaped-go"}));
}

// A dockerconfigjson auth is base64("user:password"): the password starts 0, 1 or 2 bytes into
// a 3-byte group depending on the user's length, so its standalone encoding is not in there.
TEST(SecretScanTest, FindsThePasswordInsideADockerConfigAuthAtEveryAlignment) {
  const std::string robot = "Kx9-robotSecretValue_77";
  for (const std::string user : {"robot$ab", "robot$abc", "robot$abcd"}) {
    const std::string auth = base64Encode(user + ":" + robot);
    const std::size_t align = (user.size() + 1) % 3;
    if (align != 0) {
      ASSERT_EQ(auth.find(base64Encode(robot).substr(0, 8)), std::string::npos)
          << "the secret's own base64 is in there; the test proves nothing for " << user;
    }
    const std::string config = R"({"auths":{"reg":{"auth":")" + auth + R"("}}})";
    const auto hits = scanForSecrets({{"robot", robot}}, {{"status", config}});
    ASSERT_EQ(hits.size(), 1u) << user << "\n" << describeHits(hits);
    EXPECT_EQ(hits[0].form, align == 0 ? "base64" : "base64@" + std::to_string(align));
  }
}

TEST(SecretScanTest, FindsUrlAlphabetAndUnpaddedBase64) {
  // Bytes whose standard encoding has '+' and '/', so the URL alphabet's differs.
  const std::string value = "\xfb\xff\xbf-key-\xfe\xff";
  std::string url = base64Encode(value);
  for (auto& c : url) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!url.empty() && url.back() == '=') url.pop_back();
  ASSERT_NE(url, base64Encode(value));
  EXPECT_EQ(forms(scanForSecrets({{"key", value}}, {{"log", "jwt." + url + ".sig"}})),
            (std::set<std::string>{"base64url"}));
}

TEST(SecretScanTest, NoHitOnANearMiss) {
  const std::map<std::string, std::string> secrets = {{"token", kToken}};
  std::string near = kToken;
  // One character off in the middle (a base64 core drops up to 4 bits at either end, so a
  // change there alone would still be — rightly — most of the secret).
  near[near.size() / 2] ^= 0x01;
  std::string truncated = kToken.substr(0, kToken.size() - 1);
  const std::vector<ScanSource> sources = {
      {"log", "token=" + near},    {"log2", "token=" + truncated + " and more"},
      {"b64", base64Encode(near)}, {"b64-prefix", base64Encode("x" + near)},
      {"json", jsonString(near)},  {"argv", "helm list --kube-token <redacted>"},
  };
  const auto hits = scanForSecrets(secrets, sources);
  EXPECT_TRUE(hits.empty()) << describeHits(hits);
}

TEST(SecretScanTest, ReportsEveryOccurrenceWithItsOffset) {
  const std::string text = "a " + kToken + " b " + kToken;
  const auto hits = scanForSecrets({{"token", kToken}}, {{"log", text}});
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].offset, 2u);
  EXPECT_EQ(hits[1].offset, 2 + kToken.size() + 3);
  EXPECT_EQ(describeHits(hits).find(kToken), std::string::npos) << "a hit must not print it";
}

TEST(SecretScanTest, RefusesASecretTooShortToScanFor) {
  EXPECT_THROW(scanForSecrets({{"pin", "1234"}}, {}), std::invalid_argument);
}

TEST(SecretScanTest, GatherersTurnEventsStatusesAndFilesIntoSources) {
  std::vector<std::vector<std::string>> calls;
  const KubectlRunner kubectl = [&](const std::vector<std::string>& args) -> std::string {
    calls.push_back(args);
    if (args[1] == "events") {
      return R"({"items":[{"metadata":{"namespace":"s1","name":"e1"},"message":"ok"},
                          {"metadata":{"namespace":"s2","name":"e2"},"message":")" +
             kToken + R"("}]})";
    }
    return R"({"items":[{"metadata":{"name":"shop"},"spec":{"x":")" + kToken +
           R"("},"status":{"phase":"Ready"}}]})";
  };
  const auto events = eventSources(kubectl);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].where, "Event s2/e2");
  const auto statuses = environmentStatusSources(kubectl);
  ASSERT_EQ(statuses.size(), 1u);
  EXPECT_EQ(statuses[0].where, "Environment shop status");
  // Only the status is scanned: the spec may name a secret's value holder, not the status.
  EXPECT_TRUE(scanForSecrets({{"t", kToken}}, statuses).empty());
  const auto hits = scanForSecrets({{"t", kToken}}, events);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].where, "Event s2/e2");
  EXPECT_EQ(calls[0], (std::vector<std::string>{"get", "events", "-A", "-o", "json"}));

  const auto dir =
      std::filesystem::temp_directory_path() / ("secret-scan-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "controller.log") << "debug: using token " << kToken << "\n";
  std::ofstream(dir / "other.txt") << kToken;
  const auto logs = directorySources(dir.string(), ".log");
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_EQ(scanForSecrets({{"t", kToken}}, logs).size(), 1u);
  EXPECT_THROW(fileSources({(dir / "missing.log").string()}), std::runtime_error);
  std::filesystem::remove_all(dir);
}

TEST(SecretScanTest, HelmShimLogsArgvAndRunsTheRealBinary) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("helm-shim-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string real = (dir / "real").string();
  {
    std::ofstream out(real);
    out << "#!/bin/sh\necho \"real:$*\"\nexit 3\n";
  }
  std::filesystem::permissions(real, std::filesystem::perms::owner_all);
  const std::string log = (dir / "argv.log").string();
  writeHelmArgvShim((dir / "helm").string(), real, log);
  const std::string cmd =
      (dir / "helm").string() + " upgrade --password " + kToken + " > " + (dir / "out").string();
  EXPECT_EQ(WEXITSTATUS(std::system(cmd.c_str())), 3);  // the real helm's exit code
  std::ifstream out(dir / "out");
  std::string line;
  std::getline(out, line);
  EXPECT_EQ(line, "real:upgrade --password " + kToken);
  const auto hits = scanForSecrets({{"t", kToken}}, fileSources({log}));
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].form, "plain");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace envop::testing
