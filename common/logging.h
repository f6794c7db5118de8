// The logger every part of libtwopc writes to (twopc/logging.h says where it
// goes). Internal.
#pragma once

#include <spdlog/logger.h>

namespace twopc::internal {

// The "twopc" logger. It is not registered with spdlog, so the application's
// spdlog::set_level, set_default_logger or a logger of its own named "twopc"
// neither change it nor clash with it.
spdlog::logger& Log();

}  // namespace twopc::internal
