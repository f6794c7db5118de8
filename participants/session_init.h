// The rules for ParticipantOptions::session_init, shared by the config reader
// and Coordinator::Open so that both refuse the same statements.
#pragma once

#include <string>
#include <string_view>

namespace twopc::internal {

// Why `sql` may not be a session_init statement, or "" when it may. Never
// quotes `sql` (the config's error policy: no value from the file in a
// message).
std::string SessionInitProblem(std::string_view sql);

}  // namespace twopc::internal
