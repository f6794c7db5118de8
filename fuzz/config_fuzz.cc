// Fuzz target: the TOML config loader (twopc/config.h) on arbitrary text.
//
// ParseConfig must answer every input with a Result -- never crash, never
// let an exception out (toml++ throws, and twopc's API promises Status) --
// and what it accepts must hold what the rest of twopc relies on. An error
// message is printable ASCII: it goes to terminals and logs.
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "fuzz/fuzz_input.h"
#include "twopc/config.h"
#include "twopc/gid.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  twopc::Result<twopc::CoordinatorOptions> options = twopc::ParseConfig(text, "<fuzz>");
  if (!options.ok()) {
    FUZZ_CHECK(options.status().IsInvalidArgument());
    const std::string& message = options.status().message();
    FUZZ_CHECK(message.rfind("<fuzz>:", 0) == 0);
    for (unsigned char c : message) FUZZ_CHECK(c >= 0x20 && c < 0x7f);
    return 0;
  }
  FUZZ_CHECK(twopc::ValidateNodeId(options->node_id).ok());
  FUZZ_CHECK(!options->log.path.empty());
  std::set<std::string> names;
  for (const twopc::ParticipantOptions& p : options->participants) {
    FUZZ_CHECK(!p.name.empty());
    FUZZ_CHECK(names.insert(p.name).second);  // unique
  }
  return 0;
}
