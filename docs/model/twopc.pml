/*
 * A model of twopc's commit protocol and recovery (docs/protocol.md), checked
 * with spin by tests/model_check.sh (ctest model_check).
 *
 * Two participants; a coordinator that may crash at every step; its
 * pipelined PREPAREs running in server sessions that may be delayed past the
 * coordinator's death; a recovery process that may run a pass while the
 * coordinator is alive but slow (live grace) and runs one once it is done or
 * dead; an operator who compacts the log and one who may roll a prepared
 * branch back by hand (psql); the decision log, first decision wins.
 *
 * Checked in every reachable state (Atomicity):
 *   no branch committed while another is rolled back, unless an operator
 *   rolled one back by hand;
 * and in every final state (Final):
 *   nothing stays prepared; a mixed outcome was reported by twopc; what the
 *   application was told "committed" is committed (or was broken by hand,
 *   and reported).
 *
 * Broken variants, each shown to fail by tests/model_check.sh:
 *   -DNO_FENCE          recovery rolls back without appending ABORT first
 *   -DNO_SESSION_END    recovery does not end a dead coordinator's sessions
 *   -DCOMPACT_LIVE      compaction deletes a fence that the live process can
 *                       still contradict
 *   -DGONE_IS_COMMITTED a branch that is gone counts as committed
 */

mtype = { IDLE, PREPARED, COMMITTED, ABORTED };  /* a branch on its server */
mtype = { NONE, COMMIT, ABORT };                  /* the log's record for the gtrid */

mtype branch[2] = IDLE;
mtype decision = NONE;
byte vote[2];             /* what the coordinator heard: 0 nothing, 1 prepared, 2 refused */

bool coordinator_alive = true;
bool coordinator_done;    /* finished or crashed: its transaction is over */
bool prepare_sent[2];     /* the pipelined PREPARE is on the server */
bool session_ended[2];    /* its server session was terminated */
bool reported_committed;  /* Commit() told the application "committed" */
bool live_fenced;         /* a live-grace pass fenced the transaction and ended it (END) */
bool recovered;           /* the final recovery pass is over */
bool hand_rollback;       /* an operator ran ROLLBACK PREPARED by hand */
bool mixed_reported;      /* twopc reported a mixed outcome */

#define MIXED ((branch[0] == COMMITTED && branch[1] == ABORTED) || \
               (branch[0] == ABORTED && branch[1] == COMMITTED))

/* A server session runs the PREPARE the coordinator pipelined, whenever the
 * lock it waits on goes away -- unless its session was terminated first. */
proctype Session(byte i) {
  prepare_sent[i];
  atomic {
    if
    :: !session_ended[i] && branch[i] == IDLE -> branch[i] = PREPARED; vote[i] = 1
    :: !session_ended[i] && branch[i] == IDLE -> branch[i] = ABORTED; vote[i] = 2
    :: else -> skip
    fi
  }
}

/* COMMIT PREPARED of branch i. Gone is no proof: txid_status() tells a
 * branch rolled back behind the log's back, reported as mixed. */
inline complete_commit(i) {
  atomic {
    if
    :: branch[i] == PREPARED -> branch[i] = COMMITTED
    :: branch[i] == ABORTED ->
#ifdef GONE_IS_COMMITTED
       skip
#else
       mixed_reported = true
#endif
    :: else -> skip
    fi
  }
}

inline rollback(i) {
  atomic { if :: branch[i] == PREPARED -> branch[i] = ABORTED :: else -> skip fi }
}

/* Abort: a branch whose answer never came may still be preparing in its
 * session; the session is ended before ROLLBACK PREPARED. */
inline abort_all() {
  atomic { session_ended[0] = true; session_ended[1] = true };
  rollback(0);
  rollback(1)
}

/* One recovery pass. `dead`: the coordinator is gone (its sessions may be
 * ended); otherwise a live-grace pass. */
inline pass(dead) {
#ifndef NO_SESSION_END
  if :: dead -> atomic { session_ended[0] = true; session_ended[1] = true } :: else -> skip fi;
#endif
  if
  :: decision == COMMIT -> complete_commit(0); complete_commit(1)
  :: decision == ABORT -> rollback(0); rollback(1)
  :: decision == NONE ->
#ifndef NO_FENCE
     atomic { if :: decision == NONE -> decision = ABORT :: else -> skip fi };
     if
     :: decision == ABORT -> rollback(0); rollback(1)
     :: decision == COMMIT -> complete_commit(0); complete_commit(1)
     fi
#else
     rollback(0); rollback(1)
#endif
  fi
}

active proctype Coordinator() {
  run Session(0);
  run Session(1);
  prepare_sent[0] = true;
  prepare_sent[1] = true;
  if :: goto crash :: skip fi;
  if
  :: vote[0] == 1 && vote[1] == 1 -> skip
  :: vote[0] == 2 || vote[1] == 2 || session_ended[0] || session_ended[1] -> abort_all(); goto done
  fi;
  if :: goto crash :: skip fi;
  atomic { if :: decision == NONE -> decision = COMMIT :: else -> skip fi };  /* the commit point */
  if
  :: decision != COMMIT -> abort_all(); goto done  /* fenced by recovery: abort */
  :: else -> skip
  fi;
  if :: goto crash :: skip fi;
  complete_commit(0);
  if :: goto crash :: skip fi;
  complete_commit(1);
  reported_committed = true;
  goto done;
crash:
  coordinator_alive = false;
done:
  coordinator_done = true
}

active proctype Recovery() {
  /* Maybe a live-grace pass: the coordinator is alive and slow. */
  if
  :: coordinator_alive && !coordinator_done && prepare_sent[1] ->
     pass(false);
     live_fenced = (decision == ABORT)  /* END written: compaction may consider it */
  :: skip
  fi;
  /* The pass after the coordinator is done, or dead. */
  coordinator_done;
  pass(!coordinator_alive);
  recovered = true
}

/* The operator compacts the log after a live-grace fence. An ended ABORT
 * stays while the incarnation that could contradict it is alive. */
active proctype Compactor() {
end:
  live_fenced && decision == ABORT;
  atomic {
    if
#ifdef COMPACT_LIVE
    :: true -> decision = NONE
#else
    :: !coordinator_alive || coordinator_done -> decision = NONE
#endif
    :: else -> skip
    fi
  }
}

/* psql: ROLLBACK PREPARED of branch 1, at any time. */
active proctype Operator() {
end:
  atomic { branch[1] == PREPARED -> branch[1] = ABORTED; hand_rollback = true }
}

active proctype Atomicity() {
end:
  atomic { MIXED && !hand_rollback -> assert(false) }
}

active proctype Final() {
end:
  timeout ->
  assert(branch[0] != PREPARED && branch[1] != PREPARED);
  assert(!MIXED || mixed_reported);
  assert(!reported_committed || (branch[0] == COMMITTED && branch[1] == COMMITTED) || mixed_reported)
}
