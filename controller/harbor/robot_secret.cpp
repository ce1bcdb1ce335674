#include "controller/harbor/robot_secret.h"

#include <openssl/rand.h>

#include <cctype>
#include <string_view>
#include <vector>

namespace envop::harbor {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

}  // namespace

std::string generateRobotSecret() {
  // Rejection sampling keeps every character equally likely (256 is not a multiple of 62); a
  // draw that misses a class is thrown away whole rather than patched, for the same reason.
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string secret;
    while (secret.size() < kRobotSecretLength) {
      std::vector<unsigned char> bytes(64);
      if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) return "";
      for (const unsigned char b : bytes) {
        if (b >= 248) continue;  // 248 = 4 * 62
        secret += kAlphabet[b % kAlphabet.size()];
        if (secret.size() == kRobotSecretLength) break;
      }
    }
    if (isValidRobotSecret(secret)) return secret;
  }
  return "";
}

bool isValidRobotSecret(const std::string& secret) {
  if (secret.size() < 8 || secret.size() > 128) return false;
  bool upper = false, lowerCase = false, digit = false;
  for (const char c : secret) {
    const auto u = static_cast<unsigned char>(c);
    upper = upper || std::isupper(u);
    lowerCase = lowerCase || std::islower(u);
    digit = digit || std::isdigit(u);
  }
  return upper && lowerCase && digit;
}

}  // namespace envop::harbor
