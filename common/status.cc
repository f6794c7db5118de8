#include "twopc/status.h"

namespace twopc {

std::string Status::ToString() const {
  if (ok()) return "OK";
  // Most specific last, so the text reads like a path to the cause:
  // what happened, where, the server's code, the server's words.
  std::string out = CodeName(code_);
  if (!participant_.empty()) out += ": participant " + participant_;
  if (!sqlstate_.empty()) out += ": SQLSTATE " + sqlstate_;
  if (!message_.empty()) out += ": " + message_;
  return out;
}

const char* Status::CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "OK";
    case Code::kAborted:
      return "Aborted";
    case Code::kInDoubt:
      return "InDoubt";
    case Code::kUnavailable:
      return "Unavailable";
    case Code::kTimedOut:
      return "TimedOut";
    case Code::kInvalidArgument:
      return "InvalidArgument";
    case Code::kConflict:
      return "Conflict";
    case Code::kNotFound:
      return "NotFound";
    case Code::kCorruption:
      return "Corruption";
    case Code::kIOError:
      return "IOError";
    case Code::kBusy:
      return "Busy";
    case Code::kSqlError:
      return "SqlError";
    case Code::kInternal:
      return "Internal";
    case Code::kHeuristicMixed:
      return "HeuristicMixed";
  }
  // A value outside the enum (a cast from a corrupt integer) must still print.
  return "Unknown";
}

}  // namespace twopc
