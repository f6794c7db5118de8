#include "participants/session_init.h"

#include <algorithm>
#include <cctype>

namespace twopc::internal {

std::string SessionInitProblem(std::string_view sql) {
  if (std::all_of(sql.begin(), sql.end(), [](unsigned char c) { return std::isspace(c); })) {
    return "is empty";
  }
  if (sql.find('\0') != std::string_view::npos) return "contains a NUL character";
  std::string lower(sql);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  // Every coordinator connection names its node and incarnation in
  // application_name, and recovery finds a dead incarnation's sessions by
  // it: a user's own value would hide them from recovery.
  if (lower.find("application_name") != std::string::npos) {
    return "sets application_name, which twopc reserves: it names every coordinator "
           "connection after its node and incarnation for recovery";
  }
  return "";
}

}  // namespace twopc::internal
