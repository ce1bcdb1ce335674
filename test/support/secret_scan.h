// The secret scanner of the "no secret anywhere" tests: given named secret values and named
// texts (controller logs, Events, Environment statuses, helm argv), it finds every place a
// secret shows up in a form a reader could recover it from — plain, base64 in either alphabet
// (padded or not, and at each of the three byte alignments inside a longer blob, as a password
// sits inside a dockerconfigjson `auth` of base64("user:password")), or JSON-escaped (once, as in
// a JSON log line, or twice, as in a JSON document quoted in one). A hit names the secret, never
// carries its value, so a failing test's message is itself safe to print.
//
// The scan is pure (no cluster, no process); the gatherers below turn a running test's cluster
// and files into sources through a kubectl callback, so the unit test drives them with a fake.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace envop::testing {

struct ScanSource {
  std::string where;  // e.g. "controller log build/x/controller.log", "Event ns/name"
  std::string text;
};

struct SecretHit {
  std::string where;
  std::string secret;      // the secret's name, never its value
  std::string form;        // "plain", "json-escaped", "base64", "base64url@1", ...
  std::size_t offset = 0;  // where in the source's text the hit starts
};

// Every (source, secret, form, offset) hit. A secret shorter than kMinSecretLength is refused
// (std::invalid_argument): its base64 core would be too short to tell from chance, and a real
// credential is never that short.
inline constexpr std::size_t kMinSecretLength = 6;
std::vector<SecretHit> scanForSecrets(const std::map<std::string, std::string>& secrets,
                                      const std::vector<ScanSource>& sources);

// The patterns scanForSecrets looks for, by form, for one value (exposed for the unit test and
// for a test that wants to plant a leak of a given form). Forms whose pattern equals an earlier
// form's (a value with nothing to escape, a base64 with no '+' or '/') are left out.
std::map<std::string, std::string> secretPatterns(const std::string& value);

// One line per hit, "where: secret <name> as <form> at offset N", for a test's failure message.
std::string describeHits(const std::vector<SecretHit>& hits);

// Standard base64 with padding (the tests' own encoder, also for building fixtures).
std::string base64Encode(const std::string& bytes);

// --- gatherers -------------------------------------------------------------------------------

// Runs kubectl with these arguments (no shell) and returns its stdout; throws
// std::runtime_error when kubectl fails (a scan whose source is missing must fail, not pass).
using KubectlRunner = std::function<std::string(const std::vector<std::string>& args)>;

// Every Event in every namespace, one source per Event ("Event ns/name"), its whole object.
std::vector<ScanSource> eventSources(const KubectlRunner& kubectl);
// Every Environment's status, one source per Environment ("Environment name status").
std::vector<ScanSource> environmentStatusSources(const KubectlRunner& kubectl);
// The whole text of each file, one source per file ("file PATH"); throws when one cannot be
// read.
std::vector<ScanSource> fileSources(const std::vector<std::string>& paths);
// Every regular file directly in dir whose name ends in suffix (e.g. ".log").
std::vector<ScanSource> directorySources(const std::string& dir, const std::string& suffix);

// Writes an executable shell script at shimPath that appends its argv (one line per run) to
// argvLog and then execs realHelm with the same argv; for --helm-binary.
void writeHelmArgvShim(const std::string& shimPath, const std::string& realHelm,
                       const std::string& argvLog);

}  // namespace envop::testing
