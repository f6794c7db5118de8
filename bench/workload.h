// Workloads: what one benchmark operation does, written once and run by every
// mode (2PC queues all steps in one global transaction, a saga runs them as
// local steps with compensations, `none` commits each step on its own...).
//
// A workload's data lives in *shards*; the Layout says which participant
// holds each shard. In the distributed modes shard i is participant i; in
// `local` mode every shard is a set of tables in the first participant (the
// monolith), so the same operation becomes one local transaction.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench/flags.h"
#include "bench/db_client.h"
#include "twopc/coordinator.h"

namespace twopc::bench {

struct Layout {
  std::vector<std::string> shard_participant;  // shard -> participant name
  bool colocated = false;                      // every shard in one database
  // shard -> the kind of its participant: the SQL that differs between
  // PostgreSQL and MariaDB (setup, casts) branches on it.
  std::vector<ParticipantKind> shard_kind;

  bool mariadb(int shard) const {
    return shard < static_cast<int>(shard_kind.size()) &&
           shard_kind[shard] == ParticipantKind::kMariaDb;
  }

  const std::string& participant(int shard) const { return shard_participant[shard]; }
  // Table `base` of `shard`: colocated shards get a suffix so they stay apart.
  std::string Table(const std::string& base, int shard) const;
  // Participants holding at least one shard, in shard order, without repeats.
  std::vector<std::string> Participants() const;
};

// The distributed layout for `shards` shards over `participants`, or the
// colocated one on participants[0].
// `kinds` (same size as `participants`, or empty: all PostgreSQL).
Layout MakeLayout(const std::vector<std::string>& participants, int shards, bool colocated,
                  const std::vector<ParticipantKind>& kinds = {});

struct Stmt {
  std::string sql;
  std::vector<Param> params;
};

// One local unit of work on one shard, and what undoes it.
struct Step {
  std::string name;
  int shard = 0;
  // The 2PC / local / none form: a business refusal makes a CHECK constraint
  // fail, which aborts the whole transaction.
  std::vector<Stmt> action;
  // The saga form: action[0] rewritten with a WHERE guard, so that a refusal
  // affects zero rows instead of failing (a failed statement would doom the
  // step's transaction and leave nothing to decide on). Same size as action.
  std::vector<Stmt> guarded;
  std::vector<Stmt> compensation;
  // True when action[0] may be refused for business reasons (payment
  // declined, out of stock). Only action[0]: a saga step checks it first.
  bool refusable = false;
};

struct Operation {
  uint64_t id = 0;
  std::vector<Step> steps;
  // The generator chose this operation to fail for business reasons.
  bool doomed = false;
};

// Result of checking the workload's invariant once.
struct InvariantCheck {
  bool violated = false;
  std::string detail;  // what differs, for the log
};

struct WorkloadParams {
  WorkloadKind kind = WorkloadKind::kTransfer;
  int shards = 2;
  int64_t accounts = 10000;
  int64_t hot_set = 0;        // 0 = uniform
  double failure_rate = 0.0;  // order workload only
  // Crash mode: every step also records (op, step) in the shard's journal
  // table and its compensation deletes it, so that after a crash the bench
  // can tell which acknowledged operations were applied, and where.
  bool journal = false;
};

class Workload {
 public:
  virtual ~Workload() = default;

  // Drops and recreates the workload's tables (and the journal tables) with
  // their initial contents. `clients` has one connection per participant of
  // layout().Participants(), in that order.
  virtual Status Reset(const std::vector<DbClient*>& clients) const = 0;

  // A new operation; thread-safe (uses only `rng`).
  virtual Operation Next(std::mt19937_64& rng, uint64_t id) const = 0;

  // Scalar SQL expressions read from `shard` for the invariant.
  virtual std::vector<std::string> AuditExpressions(int shard) const = 0;
  // The invariant over the values of AuditExpressions, per shard.
  virtual InvariantCheck Check(const std::vector<std::vector<int64_t>>& by_shard) const = 0;

  const WorkloadParams& params() const { return params_; }
  const Layout& layout() const { return layout_; }

 protected:
  Workload(WorkloadParams params, Layout layout) : params_(params), layout_(std::move(layout)) {}

  // Picks an id in [1, n]: with a hot set, 90% of picks go to ids 1..hot_set.
  int64_t PickId(std::mt19937_64& rng, int64_t n) const;
  // The journal statements of `step` (empty unless params().journal).
  void AddJournal(uint64_t op, int step_index, Step& step) const;
  // DROP/CREATE of the journal table of `shard`.
  std::string JournalDdl(int shard) const;
  // The connection of the participant holding `shard`.
  DbClient* ClientOf(const std::vector<DbClient*>& clients, int shard) const;

  WorkloadParams params_;
  Layout layout_;
};

// REQUIRES: params.shards >= 2 (transfer) or == 3 (order), and
// layout.shard_participant.size() == params.shards.
std::unique_ptr<Workload> MakeWorkload(const WorkloadParams& params, Layout layout);

// The invariant read once, "as a user would": one statement per database
// (all shards of a participant in the same statement), sent to all databases
// at once. `clients` has one connection per participant of
// w.layout().Participants(), in that order.
Result<InvariantCheck> ReadInvariant(const Workload& w, const std::vector<DbClient*>& clients);

// Journal table name (crash mode) of `shard`.
inline constexpr char kJournalTable[] = "bench_journal";

}  // namespace twopc::bench
