// "host:port" of a listening socket, as written in the config file's
// [metrics] listen (docs/configuration.md). Internal.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "twopc/status.h"

namespace twopc::internal {

struct ListenAddress {
  std::string host;   // "127.0.0.1", "::1" (without the brackets) or "localhost"
  uint16_t port = 0;  // 0: the kernel picks a free one
};

// Accepts an IPv4 literal, a bracketed IPv6 literal ("[::1]:9464") or
// "localhost", then ':' and a port 0-65535. Host names other than localhost
// are refused: resolving them would make a scrape endpoint depend on DNS at
// start, and a name can silently resolve to a public address. The error
// says what is wrong with `text` without repeating it.
Result<ListenAddress> ParseListenAddress(std::string_view text);

}  // namespace twopc::internal
