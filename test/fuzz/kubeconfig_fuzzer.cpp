// kubeconfig loading (loadKubeconfig, as --kubeconfig and $KUBECONFIG reach it), the base64 of
// its *-data fields, and an exec credential plugin's output. The first byte picks which; the
// rest is the text. A kubeconfig is written to a file of this process's, because production
// reads it from one (relative paths resolve against its directory).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "controller/kube/config.h"
#include "controller/kube/exec_credential.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace envop::kube;
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
    case 1: {
      static const std::string path =
          "/tmp/envop-fuzz-kubeconfig-" + std::to_string(::getpid()) + ".yaml";
      {
        std::ofstream out(path, std::ios::trunc | std::ios::binary);
        out << text;
      }
      // Odd first bytes also pick a context by name, as --context does.
      auto config = loadKubeconfig(path, data[0] % 4 == 1 ? "ctx" : "");
      if (config) {
        // What the manager reads next; bearerToken() is left out (it would run an exec plugin).
        volatile std::size_t n = config.value().server.size() + config.value().caPem.size() +
                                 config.value().clientKeyPem.size();
        (void)n;
      } else {
        volatile std::size_t n = config.error().message.size();
        (void)n;
      }
      break;
    }
    case 2:
      (void)decodeBase64(text);
      break;
    case 3: {
      const auto now = std::chrono::system_clock::time_point{} + std::chrono::hours(500000);
      (void)parseExecCredential(text, "client.authentication.k8s.io/v1", now);
      (void)parseExecCredential(text, "client.authentication.k8s.io/v1beta1", now);
      (void)parseRfc3339(text);
      break;
    }
  }
  return 0;
}
