// Fuzz target: RedactConninfo (twopc/config.h) -- no password survives.
//
// libpq is the judge of what the password is. Two properties:
//  * whatever libpq reads from the redacted text, no secret option
//    (PQconninfoOption.dispchar '*': password, sslpassword) holds anything
//    but the mask;
//  * the input's 0x01 bytes become one marker string, so a secret with
//    known text is planted wherever the fuzzer puts it: when libpq reads the
//    marker into a secret option and it occurs once in the input, the
//    redacted text must not contain it anywhere.
#include <libpq-fe.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "fuzz/fuzz_input.h"
#include "twopc/config.h"

namespace {

constexpr std::string_view kMarker = "Zq7Secret9Xk";
constexpr std::string_view kMask = "********";

// The values libpq would take as secrets, or false when it refuses `conninfo`.
bool SecretsOf(const std::string& conninfo, std::string* secrets) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (error != nullptr) PQfreemem(error);
  if (options == nullptr) return false;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->dispchar != nullptr && std::strchr(o->dispchar, '*') != nullptr && o->val != nullptr) {
      *secrets += o->val;
      *secrets += '\n';
    }
  }
  PQconninfoFree(options);
  return true;
}

size_t Count(std::string_view s, std::string_view what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string_view::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string conninfo;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0) return 0;  // a C string cannot hold it; libpq never sees one
    if (data[i] == 1) {
      conninfo += kMarker;
    } else {
      conninfo += static_cast<char>(data[i]);
    }
  }
  const std::string redacted = twopc::RedactConninfo(conninfo);

  std::string after;
  if (SecretsOf(redacted, &after)) {
    size_t start = 0;
    for (size_t end = after.find('\n'); end != std::string::npos; end = after.find('\n', start)) {
      std::string_view value(after.data() + start, end - start);
      FUZZ_CHECK(value.empty() || value == kMask);
      start = end + 1;
    }
  }

  std::string before;
  if (SecretsOf(conninfo, &before) && before.find(kMarker) != std::string::npos &&
      Count(conninfo, kMarker) == 1) {
    FUZZ_CHECK(redacted.find(kMarker) == std::string::npos);
  }
  return 0;
}
