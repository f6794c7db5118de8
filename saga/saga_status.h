// Small Status helpers of the saga engine.
#pragma once

#include <string>

#include "twopc/status.h"

namespace twopc::internal {

// `s` with `message` instead of its own message, keeping its code,
// participant and SQLSTATE: a saga adds context ("step 3 (credit) refused")
// without hiding which participant refused and why.
// REQUIRES: !s.ok()
Status RewordStatus(const Status& s, std::string message);

}  // namespace twopc::internal
