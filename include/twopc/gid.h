// The gid codec: how twopc names the prepared branches it creates.
//
// Format (version 1), documented in docs/gid-format.md:
//
//   tpc1.<node_id>.<incarnation>.<txn>.<branch>
//
// node_id is 1-32 of [A-Za-z0-9-]; the numbers are unsigned decimal without
// leading zeros. The whole gid is at most 199 bytes (PostgreSQL stores gids shorter than 200) and
// uses only [A-Za-z0-9.-], so it can never break out of an SQL literal --
// twopc escapes it with libpq all the same.
//
// It maps to an XA Xid: format id 0x74706331 ("tpc1"), global transaction id
// "tpc1.<node_id>.<incarnation>.<txn>" (the gtrid, key of the decision log)
// and branch qualifier "<branch>".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "twopc/status.h"

namespace twopc {

inline constexpr int32_t kTwopcFormatId = 0x74706331;  // "tpc1"
inline constexpr size_t kMaxGidLength = 199;            // PostgreSQL: strlen(gid) < GIDSIZE (200)
inline constexpr size_t kMaxNodeIdLength = 32;

// An XA-style transaction identifier.
struct Xid {
  int32_t format_id = 0;
  std::string gtrid;  // global transaction id
  std::string bqual;  // branch qualifier

  bool operator==(const Xid&) const = default;
};

struct GidParts {
  std::string node_id;
  uint64_t incarnation = 0;  // bumped in the decision log at every coordinator start
  uint64_t txn = 0;          // transaction number within the incarnation
  uint32_t branch = 0;       // 1-based branch number within the transaction

  bool operator==(const GidParts&) const = default;
};

// OK iff `node_id` may be used as a node id.
Status ValidateNodeId(std::string_view node_id);

// REQUIRES: ValidateNodeId(parts.node_id).ok()
std::string EncodeGtrid(std::string_view node_id, uint64_t incarnation, uint64_t txn);
std::string EncodeGid(const GidParts& parts);

// Parses a twopc gid. InvalidArgument for anything else -- another
// coordinator's encoding, a hand-made gid, or hostile text.
Result<GidParts> DecodeGid(std::string_view gid);

// The gtrid part of a twopc gid (everything before the branch number).
Result<std::string> GtridOfGid(std::string_view gid);

Xid ToXid(const GidParts& parts);

}  // namespace twopc
