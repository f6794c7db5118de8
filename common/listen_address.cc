#include "common/listen_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

namespace twopc::internal {
namespace {

// Digits only, no sign and no spaces: std::stoi would take "+80" or " 80".
bool ParsePort(std::string_view text, uint16_t* port) {
  if (text.empty() || text.size() > 5) return false;
  uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value > 65535) return false;
  *port = static_cast<uint16_t>(value);
  return true;
}

}  // namespace

Result<ListenAddress> ParseListenAddress(std::string_view text) {
  constexpr std::string_view kForm =
      R"( (host:port, e.g. "127.0.0.1:9464", "[::1]:9464" or "localhost:9464"))";
  ListenAddress address;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return Status::InvalidArgument("an IPv6 address lacks its closing ']'" + std::string(kForm));
    }
    address.host = std::string(text.substr(1, close - 1));
    in6_addr v6{};
    if (inet_pton(AF_INET6, address.host.c_str(), &v6) != 1) {
      return Status::InvalidArgument("the host in brackets is not an IPv6 address" +
                                     std::string(kForm));
    }
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      return Status::InvalidArgument("the port is missing" + std::string(kForm));
    }
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return Status::InvalidArgument("the port is missing" + std::string(kForm));
    }
    address.host = std::string(text.substr(0, colon));
    if (address.host.find(':') != std::string::npos) {
      return Status::InvalidArgument(
          R"(an IPv6 address is written in brackets, as in "[::1]:9464")");
    }
    in_addr v4{};
    if (address.host != "localhost" && inet_pton(AF_INET, address.host.c_str(), &v4) != 1) {
      return Status::InvalidArgument(
          "the host must be an IPv4 address, an IPv6 address in brackets or localhost" +
          std::string(kForm));
    }
    port = text.substr(colon + 1);
  }
  if (!ParsePort(port, &address.port)) {
    return Status::InvalidArgument(
        "the port must be a number from 0 to 65535 (0 picks a free one)");
  }
  return address;
}

}  // namespace twopc::internal
