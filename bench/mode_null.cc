// `null` mode: the coordinator with participants that answer every verb at
// once. What is left is the coordinator's own cost -- the commit state
// machine, the I/O thread hops, and the decision log, whose COMMIT records are
// still forced with a real fsync (group commit batching concurrent ones).
// The benchmark wants that negligible beside the participants.
#include <filesystem>

#include <boost/asio/post.hpp>

#include "bench/mode.h"
#include "coordinator/coordinator_impl.h"

namespace twopc::bench {
namespace {

namespace asio = boost::asio;
using internal::Branch;
using internal::Deadline;
using internal::Participant;
using internal::PreparedXact;
using internal::Query;
using internal::QueryResult;

// Answers are posted to the I/O thread rather than given inline, as a real
// participant's would be: the protocol then runs where it runs in
// production, and no callback re-enters the caller (which may be releasing
// the very branch that answers).
class NullBranch : public Branch {
 public:
  explicit NullBranch(asio::io_context& io) : io_(io) {}

  void Execute(std::vector<Query> queries, Deadline, ExecDone done) override {
    wrote_ = true;
    asio::post(io_,
               [n = queries.size(), done = std::move(done)] { done(std::vector<QueryResult>(n)); });
  }
  bool wrote() const override { return wrote_; }
  uint64_t txid() const override { return 0; }
  bool prepared() const override { return false; }
  int session() const override { return 0; }
  void Prepare(std::vector<Query>, const std::string&, Deadline, Done done) override {
    Answer(std::move(done));
  }
  void CommitOnePhase(std::vector<Query>, Deadline, Done done) override { Answer(std::move(done)); }
  void Rollback(Deadline, Done done) override { Answer(std::move(done)); }
  void CommitPrepared(const std::string&, Deadline, Done done) override { Answer(std::move(done)); }
  void RollbackPrepared(const std::string&, Deadline, Done done) override { Answer(std::move(done)); }

 private:
  void Answer(Done done) {
    asio::post(io_, [done = std::move(done)] { done(Status::OK()); });
  }

  asio::io_context& io_;
  bool wrote_ = false;
};

class NullParticipant : public Participant {
 public:
  NullParticipant(asio::io_context& io, std::string name) : io_(io), name_(std::move(name)) {}

  const std::string& name() const override { return name_; }
  void Open(const TransactionOptions&, const std::string&, Deadline,
            std::function<void(Result<std::unique_ptr<Branch>>)> done) override {
    asio::post(io_, [this, done = std::move(done)] {
      done(std::unique_ptr<Branch>(new NullBranch(io_)));
    });
  }
  void CommitPrepared(const std::string&, Deadline, std::function<void(Status)> done) override {
    Answer(std::move(done));
  }
  void RollbackPrepared(const std::string&, Deadline, std::function<void(Status)> done) override {
    Answer(std::move(done));
  }
  // Holds nothing prepared: every branch was committed or rolled back when
  // asked, so recovery finds nothing.
  void Recover(Deadline, std::function<void(Result<std::vector<PreparedXact>>)> done) override {
    asio::post(io_, [done = std::move(done)] { done(std::vector<PreparedXact>{}); });
  }
  void Inspect(Query, Deadline,
               std::function<void(Result<std::vector<QueryResult>>)> done) override {
    asio::post(io_, [done = std::move(done)] { done(std::vector<QueryResult>(1)); });
  }
  void CheckReady(Deadline, std::function<void(Status)> done) override { Answer(std::move(done)); }
  void TransactionStatus(uint64_t, Deadline,
                         std::function<void(Result<internal::TxidOutcome>)> done) override {
    asio::post(io_, [done = std::move(done)] { done(internal::TxidOutcome::kCommitted); });
  }
  void EndSession(int, Deadline, std::function<void(Status)> done) override { Answer(std::move(done)); }
  void EndSessions(const std::string&, internal::IncarnationRange, Deadline,
                   std::function<void(Result<internal::EndedSessions>)> done) override {
    asio::post(io_, [done = std::move(done)] { done(internal::EndedSessions{}); });
  }
  void Register(const std::string&, uint64_t, Deadline, std::function<void(Status)> done) override {
    Answer(std::move(done));
  }

 private:
  void Answer(std::function<void(Status)> done) {
    asio::post(io_, [done = std::move(done)] { done(Status::OK()); });
  }

  asio::io_context& io_;
  std::string name_;
};

class NullRunner : public ModeRunner {
 public:
  NullRunner(std::unique_ptr<Coordinator> c, TransactionOptions txn)
      : coordinator_(std::move(c)), txn_(txn) {}

  Outcome Run(const Operation& op) override {
    Transaction tx = coordinator_->Begin(txn_);
    Outcome out;
    for (const Step& step : op.steps) {
      for (const Stmt& st : step.action) {
        if (Status s = tx.Queue(NullName(step.shard), st.sql, st.params); !s.ok()) {
          out.cause = s;
          return out;
        }
      }
    }
    Status s = tx.Commit();
    out.kind = s.ok()          ? Outcome::Kind::kCommitted
               : s.IsInDoubt() ? Outcome::Kind::kInDoubt
                               : Outcome::Kind::kAborted;
    out.cause = s;
    out.resolve_key = tx.gtrid();
    return out;
  }

  Status Quiesce(std::chrono::milliseconds) override {
    coordinator_->WaitForCompletions();
    return Status::OK();
  }

  Outcome::Kind Resolve(const std::string& gtrid) override {
    auto rec = coordinator_->log().Lookup(gtrid);
    bool committed =
        rec.ok() && rec.value().has_value() && rec.value()->decision == Decision::kCommit;
    return committed ? Outcome::Kind::kCommitted : Outcome::Kind::kAborted;
  }

  RunnerCounters counters() const override {
    LogStats log = coordinator_->stats().log;
    return {log.records_forced, log.forces};
  }

  static std::string NullName(int shard) { return "null-" + std::to_string(shard); }

 private:
  std::unique_ptr<Coordinator> coordinator_;
  TransactionOptions txn_;
};

}  // namespace

Result<std::unique_ptr<ModeRunner>> OpenNullRunner(const RunnerContext& ctx) {
  CoordinatorOptions o;
  o.node_id = "bench-null";
  // A fresh log per point, on disk next to the other bench files: its
  // fsyncs are the real ones the mode is meant to measure.
  o.log.path = ctx.work_dir + "/null-" + ctx.point_tag + ".db";
  std::error_code ec;
  std::filesystem::remove(o.log.path, ec);
  o.log.group_commit_window = ctx.options.log.group_commit_window;
  o.log.max_batch = ctx.options.log.max_batch;
  o.io_threads = ctx.options.io_threads;
  // --metrics: counted with the other modes' coordinators.
  o.metrics.registry = ctx.options.metrics.registry;
  o.recovery.interval = std::chrono::milliseconds(0);
  for (int i = 0; i < ctx.null_participants; ++i) {
    ParticipantOptions p;
    p.name = NullRunner::NullName(i);
    p.max_connections = 1 << 20;
    o.participants.push_back(std::move(p));
  }
  auto factory = [](asio::io_context& io, const ParticipantOptions& p, std::chrono::milliseconds) {
    return std::unique_ptr<Participant>(new NullParticipant(io, p.name));
  };
  auto log = OpenSqliteDecisionLog(o.log);
  if (!log.ok()) return log.TakeStatus();
  auto c = internal::OpenCoordinator(std::move(o), std::move(log.value()), factory);
  if (!c.ok()) return c.TakeStatus();
  return std::unique_ptr<ModeRunner>(new NullRunner(std::move(c.value()), ctx.txn));
}

}  // namespace twopc::bench
