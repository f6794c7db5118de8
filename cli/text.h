// How the CLI spells times, ages, Xids and untrusted text for humans.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "twopc/decision_log.h"
#include "twopc/gid.h"

namespace twopc::cli {

// `text` safe to put on a terminal: gids, error messages and log records can
// hold any bytes (a hand-made gid is arbitrary text), and an escape sequence
// in one could rewrite the operator's screen. Control characters, C1
// controls and invalid UTF-8 become "\xNN"; valid UTF-8 stays.
std::string Printable(std::string_view text);

// Columns `text` takes on a terminal (code points; REQUIRES: valid UTF-8).
size_t DisplayWidth(std::string_view text);

int64_t NowMs();

// "2024-05-01T12:34:56Z" (ISO-8601, UTC); "?" for 0, a time the server
// does not keep (a MariaDB branch's prepare time).
std::string IsoUtc(int64_t unix_ms);

// Compact age: "45s", "3m07s", "2h05m", "3d04h". Negative (clock skew): "0s".
// "?" when `since_ms` is 0 (unknown).
std::string Age(int64_t since_ms, int64_t now_ms);

// "fmt=131077 gtrid=test bqual=branch" (binary parts escaped).
std::string XidText(const Xid& xid);

// "orders:1, payments:2": participant and branch number, or the whole gid
// when it is not a twopc gid.
std::string BranchesText(const std::vector<BranchRef>& branches);

// "3 branches", "1 branch".
std::string Plural(size_t n, std::string_view one, std::string_view many);

}  // namespace twopc::cli
