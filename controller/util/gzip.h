// Gzip (RFC 1952) decompression, for the two places envop meets it: Helm's release records
// (base64 of gzip of JSON) and the tests' reading of prometheus-operator's generated config.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace envop::util {

// The bytes `data` decompresses to; nullopt when it is not gzip or would exceed maxBytes (a
// decompression bomb is refused, not followed).
std::optional<std::string> gunzip(const std::string& data, std::size_t maxBytes = 256u << 20);

}  // namespace envop::util
