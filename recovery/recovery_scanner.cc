#include "recovery/recovery_scanner.h"

#include <fmt/format.h>
#include "common/logging.h"
#include "common/wait.h"

#include <algorithm>
#include <deque>
#include <optional>
#include <set>
#include <thread>

namespace twopc::internal {
namespace {

using Scan = std::map<std::string, std::set<std::string>>;  // participant -> gids

Deadline In(std::chrono::milliseconds t) { return Clock::now() + t; }

// One scan of every participant, in parallel (an unreachable one costs one
// timeout, not one per participant). Participants already in `unreachable`
// are skipped; newly unreachable ones are added to it and left out of the
// scan.
Scan ScanAll(const ScanContext& ctx, std::map<std::string, Status>* unreachable,
             std::vector<PreparedXact>* rows_out, std::vector<std::string>* row_participants) {
  std::vector<std::pair<std::string, Answer<Result<std::vector<PreparedXact>>>>> pending;
  for (const auto& [name, p] : ctx.participants) {
    if (unreachable->count(name)) continue;
    auto& [_, answer] = pending.emplace_back(name, Answer<Result<std::vector<PreparedXact>>>());
    p->Recover(In(ctx.timeout), answer.Callback());
  }
  Scan scan;
  for (auto& [name, answer] : pending) {
    auto r = answer.Wait();
    if (!r.ok()) {
      unreachable->emplace(name, r.status());
      continue;
    }
    auto& gids = scan[name];
    for (auto& x : r.value()) {
      gids.insert(x.gid);
      if (rows_out != nullptr) {
        rows_out->push_back(x);
        row_participants->push_back(name);
      }
    }
  }
  return scan;
}

bool Has(const Scan& s, const std::string& participant, const std::string& gid) {
  auto it = s.find(participant);
  return it != s.end() && it->second.count(gid) > 0;
}

class Pass {
 public:
  // `only`, when set, restricts the pass to that gtrid (RunRecoveryPassFor).
  Pass(const ScanContext& ctx, const RecoveryPassOptions& o, std::optional<std::string> only = {})
      : ctx_(ctx), o_(o), only_(std::move(only)) {
    report_.dry_run = o.dry_run;
  }

  // Where FenceAndRollBack stopped (restricted passes read it).
  const GtridPassResult& stop() const { return stop_; }

  RecoveryReport Run() {
    // Scan, read the log, scan again: a branch is acted on only if both
    // scans saw it, so one that is just being prepared or just completing
    // is left for the next pass.
    EndSessionsEverywhere();
    std::vector<PreparedXact> rows;
    std::vector<std::string> row_participants;
    Scan first = ScanAll(ctx_, &unreachable_, &rows, &row_participants);
    auto unended = ctx_.log->Unended();
    std::map<std::string, std::optional<DecisionRecord>> decided;  // gtrid -> record
    std::vector<std::string> lookup_gids, lookup_gtrids;           // one per gtrid
    for (size_t i = 0; i < rows.size(); ++i) {
      ClassifiedGid c = ClassifyGid(rows[i].gid, ctx_.node_id);
      if (only_ && c.kind != GidKind::kThisNode) continue;
      if (c.kind != GidKind::kThisNode) {
        Add(RecoveryActionKind::kSkipForeign, row_participants[i], rows[i].gid, "",
            fmt::format("{} gid: left to its own transaction manager", GidKindName(c.kind)));
        report_.foreign++;
        continue;
      }
      std::string gtrid = GtridOf(*c.parts);
      if (!Wanted(gtrid)) continue;
      if (decided.emplace(gtrid, std::nullopt).second) {
        lookup_gids.push_back(rows[i].gid);
        lookup_gtrids.push_back(gtrid);
      }
      mine_.push_back({row_participants[i], rows[i].gid, gtrid, *c.parts, rows[i].prepared_at_ms,
                       rows[i].txid});
    }
    // One gid per transaction; a shared store reads each where the gid says
    // it is (its decider), all of one decider's at once.
    auto found = ctx_.log->LookupManyForGids(lookup_gids);
    for (size_t i = 0; i < found.size(); ++i) {
      if (found[i].ok()) {
        decided[lookup_gtrids[i]] = std::move(found[i].value());
      } else {
        log_errors_.insert(lookup_gtrids[i]);
      }
    }
    Scan second = ScanAll(ctx_, &unreachable_, nullptr, nullptr);
    report_.unreachable = static_cast<int>(unreachable_.size());

    if (unended.ok()) {
      for (auto& rec : unended.value()) {
        if (Wanted(rec.gtrid)) DriveRecord(rec, second);
      }
    } else {
      report_.in_doubt_remaining++;
    }
    ResolveUndecided(decided, first, second);
    FenceAll(second);
    RunPending();
    FinishJobs();
    CountMixed();
    SummarizeLeft(rows, row_participants, first, second);
    // The incarnations claimed as gone are released: the pass is over.
    ctx_.log->ReleaseClaims();
    return report_;
  }

 private:
  struct Mine {
    std::string participant, gid, gtrid;
    GidParts parts;
    int64_t prepared_at_ms;
    uint64_t txid;
  };

  bool Wanted(const std::string& gtrid) const { return !only_ || *only_ == gtrid; }

  // RecoveryReport::prepared_left: the first scan's rows less what this
  // pass resolved.
  void SummarizeLeft(const std::vector<PreparedXact>& rows, const std::vector<std::string>& participants,
                     const Scan& first, const Scan& second) {
    std::set<std::pair<std::string_view, std::string_view>> resolved;
    for (const RecoveryAction& a : report_.actions) {
      bool finished = a.kind == RecoveryActionKind::kCommitPrepared ||
                      a.kind == RecoveryActionKind::kRollbackPrepared;
      if (finished && a.status.ok() && !report_.dry_run) resolved.emplace(a.participant, a.gid);
    }
    for (size_t i = 0; i < rows.size(); ++i) {
      if (resolved.count({participants[i], rows[i].gid}) > 0) continue;
      // Gone by the second scan (completed meanwhile): not left.
      if (second.count(participants[i]) > 0 && !Has(second, participants[i], rows[i].gid)) continue;
      report_.prepared_left.push_back({participants[i], rows[i].gid, rows[i].prepared_at_ms});
    }
    for (const auto& [name, p] : ctx_.participants) {
      if (unreachable_.count(name) == 0 && first.count(name) > 0) report_.scanned.push_back(name);
    }
  }

  // Before anything is concluded about a dead incarnation, its sessions
  // must be gone: one of them may hold a PREPARE queued behind a lock.
  void EndSessionsEverywhere() {
    // A shared store has no "older incarnations of this node": the sessions
    // of exactly the incarnations found gone are ended (EndSessionsOf).
    if (ctx_.log->shared()) return;
    if (!ctx_.can_fence || o_.dry_run || !ctx_.not_registered.empty()) return;
    for (const auto& [name, p] : ctx_.participants) {
      int ended = 0;
      Status s = EndDeadSessions(ctx_, *p, &ended);
      if (!s.ok()) {
        // Even with nothing prepared there now, a surviving session may
        // still PREPARE: the pass must not report success.
        sessions_alive_[name] = s;
        report_.in_doubt_remaining++;
        Add(RecoveryActionKind::kRetryLater, name, "", "",
            "sessions of a dead incarnation may still be running there", s);
        continue;
      }
      if (ended > 0) {
        Add(RecoveryActionKind::kEndSessions, name, "", "",
            fmt::format("ended {} session(s) of earlier incarnations of node {}", ended, ctx_.node_id));
      }
    }
  }

  void Add(RecoveryActionKind kind, std::string participant, std::string gid, std::string gtrid,
           std::string detail, Status status = Status::OK()) {
    report_.actions.push_back({kind, std::move(participant), std::move(gid), std::move(gtrid),
                               std::move(status), std::move(detail)});
  }

  // What a pass does to the branches of one gtrid, decided: which of them
  // are known not done yet, and whether END follows once all are.
  struct Job {
    std::string gtrid;
    Decision decision = Decision::kAbort;
    bool end_when_done = false;  // driven from its record (DriveRecord)
    bool all_done = true;
  };
  // One COMMIT/ROLLBACK PREPARED still to send.
  struct PendingEnd {
    Job* job;
    BranchRef branch;
  };

  // Plans completing one branch of `job` as its decision says: sent later,
  // batched per participant (RunPending). Checks that need no round trip
  // answer now.
  void Plan(Job& job, const BranchRef& branch, const Scan& second) {
    const std::string& participant = branch.participant;
    const std::string& gid = branch.gid;
    auto it = ctx_.participants.find(participant);
    if (it == ctx_.participants.end()) {
      Add(RecoveryActionKind::kRetryLater, participant, gid, job.gtrid,
          "the log names a participant that is not in the configuration");
      job.all_done = false;
      return;
    }
    if (unreachable_.count(participant)) {
      Add(RecoveryActionKind::kRetryLater, participant, gid, job.gtrid, "participant unreachable",
          unreachable_.at(participant));
      job.all_done = false;
      return;
    }
    if (!Has(second, participant, gid)) {
      if (!Gone(job.decision, branch, job.gtrid, *it->second)) job.all_done = false;
      return;
    }
    if (o_.dry_run) {
      Add(KindOf(job.decision), participant, gid, job.gtrid, fmt::format("would run {}", VerbOf(job.decision)));
      report_.resolved++;
      return;
    }
    pending_[participant].push_back({&job, branch});
  }

  static RecoveryActionKind KindOf(Decision d) {
    return d == Decision::kCommit ? RecoveryActionKind::kCommitPrepared : RecoveryActionKind::kRollbackPrepared;
  }
  static const char* VerbOf(Decision d) { return d == Decision::kCommit ? "COMMIT PREPARED" : "ROLLBACK PREPARED"; }

  // Should the pass yield to live transactions? Only a coordinator with
  // transactions in flight paces; otherwise (after a crash, an idle
  // coordinator, `twopc recover`) the backlog goes at full speed
  // (docs/protocol.md, "Recovery of a backlog").
  bool Pacing() const {
    return o_.pace.count() > 0 && ctx_.live_transactions != nullptr && ctx_.live_transactions->Count() > 0;
  }

  // Sends every planned COMMIT/ROLLBACK PREPARED: per participant, in
  // pipelines of kPerPipeline statements, kPipelines of them at once (their
  // WAL flushes share the server's group commit); while live transactions
  // run, one statement per participant at a time, with a pause between.
  void RunPending() {
    constexpr size_t kPerPipeline = 200;
    constexpr size_t kPipelines = 4;
    std::map<std::string, size_t> next;  // participant -> first entry not sent
    for (bool first = true;; first = false) {
      // Asked every round: transactions that start during a long pass slow
      // the rest of it down.
      bool pacing = Pacing();
      size_t per_pipeline = pacing ? 1 : kPerPipeline;
      size_t pipelines = pacing ? 1 : kPipelines;
      struct InFlight {
        std::string participant;
        size_t from, to;
        Answer<std::vector<Status>> answer;
      };
      std::vector<InFlight> round;
      for (auto& [participant, entries] : pending_) {
        size_t& from = next[participant];
        for (size_t k = 0; k < pipelines && from < entries.size(); ++k) {
          size_t to = std::min(entries.size(), from + per_pipeline);
          round.push_back({participant, from, to, {}});
          from = to;
        }
      }
      if (round.empty()) break;
      if (pacing && !first) std::this_thread::sleep_for(o_.pace);
      for (InFlight& f : round) {
        const auto& entries = pending_.at(f.participant);
        std::vector<PreparedEnd> ends;
        for (size_t i = f.from; i < f.to; ++i) ends.push_back({entries[i].branch.gid, entries[i].job->decision});
        ctx_.participants.at(f.participant)->FinishPreparedMany(std::move(ends), In(ctx_.timeout),
                                                                f.answer.Callback());
      }
      for (InFlight& f : round) {
        std::vector<Status> statuses = f.answer.Wait();
        const auto& entries = pending_.at(f.participant);
        for (size_t i = f.from; i < f.to; ++i) Finished(entries[i], statuses.at(i - f.from));
      }
    }
    pending_.clear();
  }

  // The answer to one planned COMMIT/ROLLBACK PREPARED.
  void Finished(const PendingEnd& e, const Status& s) {
    Job& job = *e.job;
    const BranchRef& b = e.branch;
    if (s.ok()) {
      Add(KindOf(job.decision), b.participant, b.gid, job.gtrid, VerbOf(job.decision));
      report_.resolved++;
      return;
    }
    if (s.IsNotFound()) {
      if (!Gone(job.decision, b, job.gtrid, *ctx_.participants.at(b.participant))) job.all_done = false;
      return;
    }
    // Connection lost, server shutting down, or another session completing
    // the same branch right now: outcome unknown, try again later.
    Add(RecoveryActionKind::kRetryLater, b.participant, b.gid, job.gtrid,
        std::string(VerbOf(job.decision)) + " failed", s);
    job.all_done = false;
  }

  // Once every planned branch answered: END for records completed on every
  // branch, "try again" for the others.
  void FinishJobs() {
    for (Job& job : jobs_) {
      if (!job.all_done) {
        report_.in_doubt_remaining++;
        continue;
      }
      // END needs a writable log; a read-only pass leaves it to the coordinator.
      if (job.end_when_done && !o_.dry_run && ctx_.can_fence) {
        ctx_.log->End(job.gtrid);
        Add(RecoveryActionKind::kEnd, "", "", job.gtrid,
            fmt::format("{} completed on every branch", DecisionName(job.decision)));
      }
    }
    jobs_.clear();
  }

  // A branch of a decided transaction that is no longer prepared. Gone is
  // no proof of anything (docs/protocol.md): txid_status() tells whether it
  // ended as decided. True when it did, or when the mixed outcome is now
  // recorded in the log (then END may follow: the heuristic record stays).
  bool Gone(Decision d, const BranchRef& branch, const std::string& gtrid, Participant& p) {
    Status s = CheckGoneBranch(ctx_, p, branch, d);
    if (s.ok()) return true;
    if (!s.IsHeuristicMixed()) {
      Add(RecoveryActionKind::kRetryLater, branch.participant, branch.gid, gtrid,
          "branch gone; cannot tell how it ended yet", s);
      return false;
    }
    Add(RecoveryActionKind::kMixed, branch.participant, branch.gid, gtrid, s.message());
    if (o_.dry_run || !ctx_.can_fence) {
      unrecorded_mixed_.insert(gtrid);
      return false;  // cannot record it here: no END either
    }
    HeuristicRecord h;
    h.gtrid = gtrid;
    h.gid = branch.gid;
    h.participant = branch.participant;
    h.action = d == Decision::kCommit ? Decision::kAbort : Decision::kCommit;
    h.logged = d;
    h.note = "found " + std::string(d == Decision::kCommit ? "rolled back" : "committed") +
             " by recovery (txid_status)";
    if (Status r = ctx_.log->RecordHeuristic(h); !r.ok()) {
      unrecorded_mixed_.insert(gtrid);
      Add(RecoveryActionKind::kRetryLater, branch.participant, branch.gid, gtrid,
          "cannot record the mixed outcome", r);
      return false;
    }
    return true;
  }

  // Shared store: ends, on every participant, the sessions of incarnation
  // `incarnation`, which ClaimIfGone found gone. Once per pass.
  Status EndSessionsOf(uint64_t incarnation) {
    if (auto it = ended_.find(incarnation); it != ended_.end()) return it->second;
    Status result;
    for (const auto& [name, p] : ctx_.participants) {
      int ended = 0;
      Status s = EndDeadSessions(ctx_, *p, &ended, IncarnationRange{incarnation, incarnation + 1});
      if (!s.ok()) {
        if (result.ok()) result = s;
        continue;
      }
      if (ended > 0) {
        Add(RecoveryActionKind::kEndSessions, name, "", "",
            fmt::format("ended {} session(s) of the gone incarnation {} of node {}", ended, incarnation,
                        ctx_.node_id));
      }
    }
    ended_[incarnation] = result;
    return result;
  }

  // Shared store: a COMMIT row of another live process, fresh, is that
  // process's own phase 2 -- driving it too would only race it.
  bool OwnedByAnotherLiveProcess(const DecisionRecord& rec) {
    if (!ctx_.log->shared() || rec.decision != Decision::kCommit) return false;
    if (rec.incarnation == ctx_.live_incarnation || rec.incarnation == 0) return false;
    int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    if (now_ms - rec.decided_at_ms > ctx_.others_grace.count()) return false;
    auto gone = ctx_.log->ClaimIfGone(rec.incarnation);
    return !gone.ok() || !*gone;
  }

  void DriveRecord(const DecisionRecord& rec, const Scan& second) {
    if (LiveCompleting(rec.gtrid)) return;  // the live process is on it
    if (OwnedByAnotherLiveProcess(rec)) return;
    handled_.insert(rec.gtrid);
    Job& job = jobs_.emplace_back(Job{rec.gtrid, rec.decision, /*end_when_done=*/true});
    for (const auto& b : rec.branches) Plan(job, b, second);
  }

  void ResolveUndecided(const std::map<std::string, std::optional<DecisionRecord>>& decided,
                        const Scan& first, const Scan& second) {
    std::map<std::string, std::vector<const Mine*>> by_gtrid;
    for (const Mine& m : mine_) by_gtrid[m.gtrid].push_back(&m);
    for (auto& [gtrid, branches] : by_gtrid) {
      if (handled_.count(gtrid)) continue;
      const auto& rec = decided.at(gtrid);
      if (log_errors_.count(gtrid)) {
        report_.in_doubt_remaining++;
        Add(RecoveryActionKind::kRetryLater, "", "", gtrid, "cannot read the decision log");
        continue;
      }
      if (rec.has_value()) {
        // Decided, but not in Unended (END written, or the record was read
        // between our log reads): follow the decision for what is left.
        if (LiveCompleting(gtrid)) continue;
        Job& job = jobs_.emplace_back(Job{gtrid, rec->decision, /*end_when_done=*/false});
        for (const Mine* m : branches) Plan(job, Ref(*m), second);
        continue;
      }
      FenceAndRollBack(gtrid, branches, first, second);
    }
  }

  static BranchRef Ref(const Mine& m) { return {m.participant, m.gid, m.txid}; }

  bool LiveCompleting(const std::string& gtrid) const {
    return ctx_.live_transactions != nullptr && ctx_.live_transactions->IsCompleting(gtrid);
  }

  void FenceAndRollBack(const std::string& gtrid, const std::vector<const Mine*>& branches,
                        const Scan& first, const Scan& second) {
    std::string why;
    const Mine& any = *branches.front();
    if (MayBeDeciding(ctx_, any.parts, gtrid, any.prepared_at_ms, o_.live_grace, &why)) {
      for (const Mine* m : branches) Add(RecoveryActionKind::kSkipLive, m->participant, m->gid, gtrid, why);
      stop_.stop = GtridPassResult::Stop::kMayBeDeciding;
      stop_.why = why;
      report_.in_doubt_remaining++;
      return;
    }
    if (ctx_.log->shared() && any.parts.incarnation != ctx_.live_incarnation && !o_.dry_run) {
      if (Status s = EndSessionsOf(any.parts.incarnation); !s.ok()) {
        for (const Mine* m : branches) {
          Add(RecoveryActionKind::kRetryLater, m->participant, m->gid, gtrid,
              "sessions of its gone coordinator may still be running", s);
        }
        report_.in_doubt_remaining++;
        stop_.stop = GtridPassResult::Stop::kSessionsAlive;
        stop_.participant = s.participant();
        stop_.status = s;
        return;
      }
    }
    for (const Mine* m : branches) {
      if (auto it = sessions_alive_.find(m->participant); it != sessions_alive_.end()) {
        Add(RecoveryActionKind::kRetryLater, m->participant, m->gid, gtrid,
            "sessions of a dead incarnation may still be running there", it->second);
        report_.in_doubt_remaining++;
        stop_.stop = GtridPassResult::Stop::kSessionsAlive;
        stop_.participant = m->participant;
        stop_.status = it->second;
        return;
      }
    }
    std::vector<const Mine*> stable;
    for (const Mine* m : branches) {
      if (Has(first, m->participant, m->gid) && Has(second, m->participant, m->gid)) {
        stable.push_back(m);
      } else {
        Add(RecoveryActionKind::kSkipUnstable, m->participant, m->gid, gtrid,
            "seen in only one of the two scans; next pass");
      }
    }
    if (stable.empty()) return;
    DecisionRecord abort;
    abort.gtrid = gtrid;
    abort.decision = Decision::kAbort;
    for (const Mine* m : stable) abort.branches.push_back(Ref(*m));
    if (o_.dry_run) {
      Add(RecoveryActionKind::kFence, "", "", gtrid, "would append ABORT (no decision, not in flight)");
      Job& job = jobs_.emplace_back(Job{gtrid, Decision::kAbort, /*end_when_done=*/false});
      for (const BranchRef& b : abort.branches) Plan(job, b, second);
      job.all_done = true;  // a dry run counts nothing as remaining here
      return;
    }
    fences_.push_back(std::move(abort));
  }

  // Fences every orphan FenceAndRollBack found, all together (their forced
  // writes shared), then plans their rollbacks. Fence first: once ABORT is
  // in the log, a stale process's late COMMIT for the gtrid is refused, so
  // rolling back cannot race a commit.
  void FenceAll(const Scan& second) {
    if (fences_.empty()) return;
    std::vector<DecisionRecord> fences = std::move(fences_);
    fences_.clear();
    std::vector<Status> statuses = ctx_.log->DecideMany(fences);
    for (size_t i = 0; i < fences.size(); ++i) Fenced(fences[i], statuses.at(i), second);
  }

  void Fenced(const DecisionRecord& abort, const Status& s, const Scan& second) {
    const std::string& gtrid = abort.gtrid;
    if (s.IsConflict()) {
      stop_.stop = GtridPassResult::Stop::kDecidedMeanwhile;
      stop_.decision = Decision::kCommit;
      auto rec = ctx_.log->Lookup(gtrid);
      if (rec.ok() && rec.value()) {
        stop_.decision = rec.value()->decision;
        Add(RecoveryActionKind::kRetryLater, "", "", gtrid,
            fmt::format("a {} decision was recorded meanwhile; following it", DecisionName(rec.value()->decision)));
        DriveRecord(*rec.value(), second);
      }
      return;
    }
    if (!s.ok()) {
      report_.in_doubt_remaining++;
      stop_.stop = GtridPassResult::Stop::kCannotFence;
      stop_.status = s;
      Add(RecoveryActionKind::kRetryLater, "", "", gtrid, "cannot append the ABORT record", s);
      return;
    }
    Add(RecoveryActionKind::kFence, "", "", gtrid, "ABORT appended: no decision, cannot be deciding");
    DriveRecord(abort, second);
  }

  // Heuristic records that went against the log's decision (or against
  // presumed abort for undecided ones) mean the transaction ended mixed.
  void CountMixed() {
    auto hs = ctx_.log->Heuristics();
    if (!hs.ok()) return;
    std::set<std::string> mixed;
    for (const auto& h : UnresolvedHeuristics(hs.value(), ctx_.node_id)) {
      if (!Wanted(h.gtrid)) continue;
      if (!mixed.insert(h.gtrid).second) continue;
      Add(RecoveryActionKind::kMixed, h.participant, h.gid, h.gtrid,
          fmt::format("{} against the log's {} ({})", DecisionName(h.action),
                      h.logged ? DecisionName(*h.logged) : "presumed abort", h.note));
    }
    for (const std::string& g : unrecorded_mixed_) mixed.insert(g);
    report_.mixed = static_cast<int>(mixed.size());
  }

  const ScanContext& ctx_;
  const RecoveryPassOptions& o_;
  const std::optional<std::string> only_;  // the one gtrid of a restricted pass
  GtridPassResult stop_;                    // its report stays in report_
  RecoveryReport report_;
  std::map<std::string, Status> unreachable_;
  std::vector<Mine> mine_;
  std::set<std::string> handled_, log_errors_;  // gtrids driven from their record; unreadable
  std::set<std::string> unrecorded_mixed_;      // mixed outcomes this pass could not record
  std::map<std::string, Status> sessions_alive_;  // participants where dead sessions remain
  std::map<uint64_t, Status> ended_;  // shared store: incarnations whose sessions were ended
  std::vector<DecisionRecord> fences_;  // orphans to fence (FenceAll)
  std::deque<Job> jobs_;                // stable addresses: pending_ points into it
  std::map<std::string, std::vector<PendingEnd>> pending_;  // participant -> to send
};

}  // namespace

Result<std::vector<PreparedXact>> RecoverSync(Participant& p, std::chrono::milliseconds timeout) {
  return AwaitCallback<Result<std::vector<PreparedXact>>>(
      [&](auto done) { p.Recover(In(timeout), std::move(done)); });
}

Status CommitPreparedSync(Participant& p, const std::string& gid, std::chrono::milliseconds timeout) {
  return AwaitCallback<Status>([&](auto done) { p.CommitPrepared(gid, In(timeout), std::move(done)); });
}

Status RollbackPreparedSync(Participant& p, const std::string& gid, std::chrono::milliseconds timeout) {
  return AwaitCallback<Status>([&](auto done) { p.RollbackPrepared(gid, In(timeout), std::move(done)); });
}

Result<TxidOutcome> TransactionStatusSync(Participant& p, uint64_t txid, std::chrono::milliseconds timeout) {
  return AwaitCallback<Result<TxidOutcome>>(
      [&](auto done) { p.TransactionStatus(txid, In(timeout), std::move(done)); });
}

RecoveryReport RunRecoveryPass(const ScanContext& ctx, const RecoveryPassOptions& options) {
  return Pass(ctx, options).Run();
}

GtridPassResult RunRecoveryPassFor(const ScanContext& ctx, const RecoveryPassOptions& options,
                                   const std::string& gtrid) {
  Pass pass(ctx, options, gtrid);
  RecoveryReport report = pass.Run();
  GtridPassResult result = pass.stop();
  result.report = std::move(report);
  return result;
}

bool MayBeDeciding(const ScanContext& ctx, const GidParts& parts, const std::string& gtrid,
                   int64_t prepared_at_ms, std::chrono::seconds live_grace, std::string* why) {
  if (!ctx.not_registered.empty()) {
    *why = ctx.not_registered;
    return true;
  }
  if (!ctx.can_fence) {
    *why = "a coordinator holds the decision log and may still be deciding it";
    return true;
  }
  if (ctx.log->shared() && parts.incarnation != ctx.live_incarnation) {
    // Several live processes share the store: only the registration tells
    // whether the one that drew this incarnation is gone (docs/protocol.md,
    // "Several coordinators").
    auto gone = ctx.log->ClaimIfGone(parts.incarnation);
    if (!gone.ok()) {
      *why = "cannot tell whether its coordinator is alive: " + gone.status().ToString();
      return true;
    }
    if (!*gone) {
      *why = fmt::format("its coordinator (incarnation {}) is alive and may still be deciding it",
                         parts.incarnation);
      return true;
    }
    return false;
  }
  if (parts.incarnation > ctx.live_incarnation) {
    *why = "its incarnation is newer than the log's: is another log in use for this node id?";
    return true;
  }
  if (parts.incarnation < ctx.live_incarnation) return false;  // its process is gone
  // The live incarnation: its registry knows (docs/protocol.md, "Transaction
  // phases"). A process without one runs no transactions.
  if (ctx.live_transactions == nullptr || !ctx.live_transactions->MayBeDeciding(gtrid)) return false;
  if (prepared_at_ms == 0) {
    // Its server does not keep the prepare time (MariaDB): never old
    // enough for the live grace.
    *why = "its transaction is still in flight in the live coordinator";
    return true;
  }
  auto age = std::chrono::milliseconds(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch()).count() - prepared_at_ms);
  if (live_grace.count() > 0 && age > live_grace) return false;
  *why = "its transaction is still in flight in the live coordinator";
  return true;
}

Status EndDeadSessions(const ScanContext& ctx, Participant& participant, int* ended,
                       std::optional<IncarnationRange> which) {
  *ended = 0;
  IncarnationRange range = which.value_or(IncarnationRange{0, ctx.live_incarnation});
  auto r = AwaitCallback<Result<EndedSessions>>([&](auto done) {
    participant.EndSessions(ctx.node_id, range, In(ctx.timeout), std::move(done));
  });
  if (!r.ok()) return r.TakeStatus();
  *ended = r->terminated;
  if (r->remaining > 0) {
    return Status::TimedOut(fmt::format("{} session(s) of earlier incarnations of node {} did not end",
                                        r->remaining, ctx.node_id))
        .WithParticipant(participant.name());
  }
  return Status::OK();
}

Status Fence(const ScanContext& ctx, const std::string& gtrid, std::vector<BranchRef> branches) {
  DecisionRecord abort;
  abort.gtrid = gtrid;
  abort.decision = Decision::kAbort;
  abort.branches = std::move(branches);
  return ctx.log->Decide(std::move(abort));
}

Status CheckGoneBranch(const ScanContext& ctx, Participant& participant, const BranchRef& branch,
                       Decision decision) {
  if (branch.txid == 0) return Status::OK();  // recorded before ids were kept: cannot tell
  auto outcome = TransactionStatusSync(participant, branch.txid, ctx.timeout);
  if (!outcome.ok()) return outcome.TakeStatus();
  switch (*outcome) {
    case TxidOutcome::kCommitted:
      if (decision == Decision::kCommit) return Status::OK();
      break;
    case TxidOutcome::kAborted:
      if (decision == Decision::kAbort) return Status::OK();
      break;
    case TxidOutcome::kInProgress:
      return Status::Unavailable("its transaction is still in progress").WithParticipant(branch.participant);
    case TxidOutcome::kUnknown:
      return Status::OK();  // too old for the commit log: nothing left to compare
  }
  return std::move(Status::HeuristicMixed(fmt::format(
                       "branch {} was {} behind the log's back, although the decision is {} "
                       "(txid_status({}) = {})",
                       branch.gid, *outcome == TxidOutcome::kCommitted ? "committed" : "rolled back",
                       DecisionName(decision), branch.txid, TxidOutcomeName(*outcome))))
      .WithParticipant(branch.participant);
}

}  // namespace twopc::internal

namespace twopc {

std::vector<HeuristicRecord> UnresolvedHeuristics(const std::vector<HeuristicRecord>& all,
                                                  std::string_view node_id) {
  std::vector<HeuristicRecord> out;
  for (const HeuristicRecord& h : all) {
    // An acknowledged outcome (`twopc forget`) is repaired. A forced action
    // on a foreign gid contradicts nothing of ours: presumed abort speaks
    // only for this node's transactions.
    if (h.forgotten_at_ms) continue;
    if (ClassifyGid(h.gid, node_id).kind != GidKind::kThisNode) continue;
    if (h.action == h.logged.value_or(Decision::kAbort)) continue;
    out.push_back(h);
  }
  return out;
}

const char* RecoveryActionName(RecoveryActionKind kind) {
  switch (kind) {
    case RecoveryActionKind::kCommitPrepared: return "commit-prepared";
    case RecoveryActionKind::kRollbackPrepared: return "rollback-prepared";
    case RecoveryActionKind::kFence: return "fence";
    case RecoveryActionKind::kEnd: return "end";
    case RecoveryActionKind::kSkipLive: return "skip-live";
    case RecoveryActionKind::kSkipForeign: return "skip-foreign";
    case RecoveryActionKind::kSkipUnstable: return "skip-unstable";
    case RecoveryActionKind::kRetryLater: return "retry-later";
    case RecoveryActionKind::kMixed: return "mixed";
    case RecoveryActionKind::kEndSessions: return "end-sessions";
  }
  return "?";
}

int RecoveryReport::ExitCode() const {
  if (unreachable > 0) return 4;
  if (mixed > 0) return 3;
  if (in_doubt_remaining > 0) return 1;
  return 0;
}

}  // namespace twopc
