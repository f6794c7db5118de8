// The gid codec: how twopc names the prepared branches it creates.
//
// Formats, documented in docs/gid-format.md:
//
//   tpc1.<node_id>.<incarnation>.<txn>.<branch>             (version 1)
//   tpc2.<node_id>.<incarnation>.<txn>.<branch>.<decider>   (version 2)
//
// node_id is 1-32 of [A-Za-z0-9-]; the numbers are unsigned decimal without
// leading zeros; decider is a participant name, 1-63 of [A-Za-z0-9_-]. The
// whole gid is at most 199 bytes (PostgreSQL stores gids shorter than 200)
// and uses only [A-Za-z0-9._-] ('_' only in the decider), so it can never
// break out of an SQL literal -- twopc escapes it with libpq all the same.
//
// Version 2 names the participant D whose `twopc.decisions` table holds the
// commit decision, so that a prepared gid alone says where to look for it.
//
// It maps to an XA Xid: format id 0x74706331 ("tpc1") or 0x74706332
// ("tpc2"), global transaction id "tpc<v>.<node_id>.<incarnation>.<txn>"
// (the gtrid, key of the decision log) and branch qualifier "<branch>"
// (version 1) or "<branch>.<decider>" (version 2).
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

inline constexpr int32_t kTwopcFormatId = 0x74706331;    // "tpc1"
inline constexpr int32_t kTwopcV2FormatId = 0x74706332;  // "tpc2"
inline constexpr size_t kMaxGidLength = 199;             // PostgreSQL: strlen(gid) < GIDSIZE (200)
inline constexpr size_t kMaxNodeIdLength = 32;
// A participant name (the config's rule): PostgreSQL's NAMEDATALEN - 1.
inline constexpr size_t kMaxDeciderLength = 63;
// With a MariaDB participant: "tpc1." + node id + 2 x (1 + 20 digits) must
// fit MariaDB's 64-byte XA gtrid (docs/gid-format.md, "MariaDB XA").
inline constexpr size_t kMaxMariaDbNodeIdLength = 17;
// ... and a decider named in a MariaDB branch qualifier "<branch>.<decider>".
inline constexpr size_t kMaxMariaDbDeciderLength = 53;

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
  // The participant whose decision table holds the commit decision (see
  // docs/gid-format.md, "Version 2"). Empty: a version 1 gid, which names none.
  // The initializer lets version 1 parts be written {node, inc, txn, branch}
  // without -Wmissing-field-initializers.
  std::string decider = {};

  bool operator==(const GidParts&) const = default;
};

// OK iff `node_id` may be used as a node id.
Status ValidateNodeId(std::string_view node_id);

// OK iff `name` may be the decider of a version 2 gid: a participant name,
// 1-63 bytes of [A-Za-z0-9_-].
Status ValidateDecider(std::string_view name);

// "tpc<version>.<node_id>.<incarnation>.<txn>".
// REQUIRES: ValidateNodeId(node_id).ok(), version is 1 or 2.
std::string EncodeGtrid(std::string_view node_id, uint64_t incarnation, uint64_t txn,
                        int version = 1);

// The gtrid of the gid `parts` describes: version 2 iff parts.decider is set.
// Use it rather than EncodeGtrid on decoded parts, so that a tpc2 gid maps to
// its tpc2 gtrid.
std::string GtridOf(const GidParts& parts);

// Version 1 if parts.decider is empty, else version 2.
// REQUIRES: ValidateNodeId(parts.node_id).ok(), parts.branch >= 1, and
// parts.decider empty or ValidateDecider(parts.decider).ok().
std::string EncodeGid(const GidParts& parts);

// Parses a twopc gid of either version. InvalidArgument for anything else -- another
// coordinator's encoding, a hand-made gid, or hostile text.
Result<GidParts> DecodeGid(std::string_view gid);

// The gtrid part of a twopc gid (everything before the branch number).
// Equal to GtridOf(*DecodeGid(gid)).
Result<std::string> GtridOfGid(std::string_view gid);

Xid ToXid(const GidParts& parts);

// Whose a prepared transaction is, judged from its gid. The formats are in
// docs/gid-format.md; no gid matches two of them.
enum class GidKind {
  kThisNode,      // twopc gid (tpc1 or tpc2) with this coordinator's node id
  kOtherNode,     // twopc gid (tpc1 or tpc2) of another node id
  kOtherVersion,  // "tpc<digits>." of a format version this build cannot read (not 1, 2)
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
  std::optional<GidParts> parts;  // tpc1 and tpc2 gids
  std::optional<Xid> xid;         // twopc, Java XA and LIXA gids; gtrid and bqual are raw bytes
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
