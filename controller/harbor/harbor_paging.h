// Harbor pages every list (query parameters page and page_size, at most 100 a page) and says
// where the next page is in an RFC 8288 Link header, `</api/v2.0/robots?page=2&page_size=100>;
// rel="next"`, with the whole list's size in X-Total-Count. These helpers read those headers;
// they do no I/O, so the client's paging loop is tested by feeding them headers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace envop::harbor {

inline constexpr int kPageSize = 100;  // the swagger's maximum page_size

// The path and query of the rel="next" target in a Link header value, relative to the server
// ("/api/v2.0/..."): an absolute URL has its scheme and authority dropped, because Harbor
// builds them from the Host it was reached by. nullopt when there is no next page, or when the
// target is not under /api/v2.0/ (a Link must not send the admin credentials elsewhere).
std::optional<std::string> nextPageLink(const std::string& linkHeader);

// X-Total-Count as a number; nullopt when absent or not a non-negative integer.
std::optional<std::int64_t> parseTotalCount(const std::string& value);

}  // namespace envop::harbor
