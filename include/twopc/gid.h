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
//
// The same header tells whose any other gid is (ClassifyGid): recovery, the
// CLI and DecodeGid's error messages all read foreign gids through it.
#pragma once

#include <cstdint>
#include <optional>
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

// Whose a prepared transaction is, judged from its gid. The formats are in
// docs/gid-format.md; no gid matches two of them.
enum class GidKind {
  kThisNode,      // twopc gid (tpc1) with this coordinator's node id
  kOtherNode,     // twopc gid (tpc1) of another node id
  kOtherVersion,  // "tpc<digits>." of a format version this build cannot read
  kJavaXa,        // pgjdbc's PGXAConnection: "<formatId>_<base64 gtrid>_<base64 bqual>"
                  // (Narayana, Atomikos, Bitronix... on PostgreSQL)
  kLixa,          // LIXA's PostgreSQL switch: "<formatId>.<hex gtrid>.<hex bqual>"
  kCitus,         // "citus_<group id>_<pid>_<transaction number>_<connection number>"
  kUnknown,       // anything else: hand-made, malformed, hostile
};
const char* GidKindName(GidKind kind);  // "this-node", "other-node", "java-xa", ...

// The fields of a Citus gid (Citus' Assign2PCIdentifier).
struct CitusGid {
  uint32_t group_id = 0;  // the coordinator group that prepared it
  uint32_t pid = 0;       // the backend on that coordinator
  uint64_t transaction_number = 0;
  uint32_t connection_number = 0;

  bool operator==(const CitusGid&) const = default;
};

struct ClassifiedGid {
  GidKind kind = GidKind::kUnknown;
  std::optional<GidParts> parts;  // tpc1 gids
  std::optional<Xid> xid;         // tpc1, Java XA and LIXA gids; gtrid and bqual are raw bytes
  std::optional<CitusGid> citus;  // Citus gids
  // The transaction manager that probably wrote it, from the format or the
  // XA format id ("twopc", "Narayana", "Atomikos", "Bitronix", "LIXA",
  // "Citus"); empty when the gid does not say.
  std::string_view manager;
};

// Never fails: a gid that matches no known format is kUnknown, and so is
// anything longer than kMaxGidLength (PostgreSQL cannot hold it).
ClassifiedGid ClassifyGid(std::string_view gid, std::string_view this_node_id);

}  // namespace twopc
