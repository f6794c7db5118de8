// The TOML config file read by the library, the demo, the `twopc` CLI and the
// benchmark:
//
//   node_id = "node-a"
//   [log]
//   path = "twopc-decisions.db"
//   [[participants]]
//   name = "orders"
//   conninfo = "host=127.0.0.1 port=55001 dbname=orders user=postgres"
//
// Every key is documented in docs/configuration.md.
#pragma once

#include <string>
#include <string_view>

#include "twopc/options.h"
#include "twopc/status.h"

namespace twopc {

// Unknown keys, missing fields, wrong types, duplicate participant names, a
// bad node_id, an unknown [logging] format or level and a [metrics] listen
// address that is not "host:port" (IPv4, [IPv6] or localhost; port 0-65535)
// are InvalidArgument errors that name the file and line. [logging] and
// [metrics] fill CoordinatorOptions::logging and ::metrics; a key left out
// stays unset (nullopt, or an empty listen: no endpoint).
// A relative log path is taken relative to the config file's directory.
Result<CoordinatorOptions> LoadConfigFile(const std::string& path);

// Same, from text; `source_name` appears in error messages and relative
// paths are kept as they are.
Result<CoordinatorOptions> ParseConfig(std::string_view toml_text,
                                       std::string_view source_name = "<config>");

// `conninfo` with any password replaced by "********", for logs and errors.
std::string RedactConninfo(std::string_view conninfo);

}  // namespace twopc
