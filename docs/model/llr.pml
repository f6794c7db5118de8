/*
 * A model of the decision kept inside PostgreSQL (issue 10, "logging last
 * resource"), checked with spin by tests/model_check.sh before the store is
 * built: the rules it will implement must hold here first.
 *
 * One transaction with two write branches. D, the decider, is never
 * prepared: the coordinator pipelines "INSERT the COMMIT row; COMMIT" into
 * D's own open transaction, so D's work and the decision commit together
 * (the commit point). P is prepared first. The decision table's primary key
 * is the gtrid: an INSERT of a key that a concurrent, uncommitted INSERT
 * holds waits for it, then fails (it committed) or goes on (it aborted).
 *
 * What can happen: the coordinator crashes at every step, or stops (SIGSTOP,
 * a lost registry lock) while another process recovers; pipelined requests
 * already on a server run even after the coordinator died; the coordinator's
 * connection to D breaks during its COMMIT, and it settles the outcome by
 * fencing; recovery runs whenever the coordinator is dead or has lost its
 * registry lock, fences an undecided P by inserting ABORT into D's table
 * before ROLLBACK PREPARED, and follows a decision it finds; a collector
 * deletes fences and COMMIT rows.
 *
 * Checked in every reachable state (Atomicity): D and P never end
 * differently. In every final state (Final): nothing stays prepared, and
 * what the application was told "committed" is committed on both.
 *
 * Broken variants, each shown to fail by tests/model_check.sh:
 *   -DNO_PK          the decision table has no key: a fence does not wait
 *                    for a concurrent COMMIT row, nor does it refuse it
 *   -DFENCE_BY_AGE   a fence is deleted while the transaction that was
 *                    running when it was written may still commit
 *   -DEARLY_FORGET   a COMMIT row is deleted before every branch committed
 *   -DGUESS_IN_DOUBT a coordinator that lost D's answer guesses "aborted"
 *                    instead of settling it by fencing
 */

mtype = { OPEN, PREPARED, COMMITTED, ABORTED };  /* a branch */
mtype = { NONE, COMMIT, ABORT };                  /* D's decision row (committed) */

mtype d = OPEN;            /* D's local transaction: work, then the COMMIT row */
mtype p = OPEN;            /* the other branch */
mtype row = NONE;          /* the committed row for the gtrid in D's table */
bool row_pending;          /* the COMMIT row inserted by D's open transaction */
byte vote;                 /* P's answer: 0 none, 1 prepared, 2 refused */

bool prepare_sent;         /* PREPARE is on P's server: it runs whatever happens to the coordinator */
bool commit_sent;          /* "INSERT row; COMMIT" is on D's server: likewise */
bool coordinator_alive = true;
bool coordinator_done;
bool registry_lost;        /* stopped or cut off: other processes may recover now */
bool reported_committed;
bool p_session_done;
bool d_session_done;

#define MIXED ((d == COMMITTED && p == ABORTED) || (d == ABORTED && p == COMMITTED))

/* Fence: INSERT the ABORT row in a transaction of its own. With the key it
 * waits for a concurrent uncommitted COMMIT row, then finds it committed
 * (and follows it) or gone. `decided` gets the decision: the ABORT it wrote,
 * or the row that was there (the INSERT's duplicate-key error says so). */
inline fence(decided) {
  atomic {
#ifndef NO_PK
    !row_pending ->  /* the unique index: wait, then check, as one step */
#endif
    if :: row == NONE -> row = ABORT :: else -> skip fi;
    decided = row
  }
}

/* P's session runs the pipelined PREPARE when it gets to it. */
proctype PSession() {
end:
  prepare_sent;
  atomic {
    if
    :: p == OPEN -> p = PREPARED; vote = 1
    :: p == OPEN -> p = ABORTED; vote = 2
    :: else -> skip
    fi
  };
  p_session_done = true
}

/* D's session runs "INSERT the COMMIT row; COMMIT" when it gets to it. */
proctype DSession() {
end:
  commit_sent;
  atomic {
#ifdef NO_PK
    row_pending = true
#else
    if
    :: row == NONE && !row_pending -> row_pending = true
    :: row != NONE -> d = ABORTED  /* duplicate key: the fence won; the transaction aborts */
    fi
#endif
  };
  atomic {
    if
    :: row_pending && d == OPEN -> d = COMMITTED; row = COMMIT; row_pending = false  /* the commit point */
    :: else -> row_pending = false
    fi
  };
  d_session_done = true
}

/* The outcome of a prepared P, from the row; undecided means fence first. */
inline resolve_p(decided) {
  if
  :: p == PREPARED ->
     decided = row;
     if
     :: decided == NONE -> fence(decided)
     :: else -> skip
     fi;
     atomic {
       if
       :: p == PREPARED && decided == COMMIT -> p = COMMITTED
       :: p == PREPARED && decided == ABORT -> p = ABORTED
       :: else -> skip
       fi
     }
  :: else -> skip
  fi
}

active proctype Coordinator() {
  mtype decided = NONE;
  run PSession();
  run DSession();
  prepare_sent = true;
  if :: goto crash :: skip fi;
  if
  :: vote == 1 -> skip
  :: vote == 2 -> atomic { if :: d == OPEN -> d = ABORTED :: else -> skip fi }; goto done
  fi;
  if :: goto crash :: registry_lost = true :: skip fi;
  commit_sent = true;
  if :: goto crash :: skip fi;
  if
  :: d_session_done && d == COMMITTED -> reported_committed = true
  :: d_session_done && d == ABORTED -> atomic { if :: p == PREPARED -> p = ABORTED :: else -> skip fi }; goto done
  :: true ->  /* the connection to D broke during its COMMIT: in doubt at D */
#ifdef GUESS_IN_DOUBT
     atomic { if :: p == PREPARED -> p = ABORTED :: else -> skip fi }; goto done
#else
     fence(decided);  /* the answer is known, not guessed */
     if
     :: decided == COMMIT -> reported_committed = true
     :: decided == ABORT -> atomic { if :: p == PREPARED -> p = ABORTED :: else -> skip fi }; goto done
     fi
#endif
  fi;
  if :: goto crash :: skip fi;
  atomic { if :: p == PREPARED -> p = COMMITTED :: else -> skip fi };  /* phase 2 */
  goto done;
crash:
  coordinator_alive = false;
done:
  coordinator_done = true
}

/* Recovery by any process: while the coordinator is dead or has lost its
 * registry lock, and once more when everything is over. */
active proctype Recovery() {
  mtype decided = NONE;
  if
  :: (!coordinator_alive || registry_lost) -> resolve_p(decided)
  :: skip
  fi;
  coordinator_done && (p_session_done || !prepare_sent) && (d_session_done || !commit_sent);
  /* D's transaction never sent its COMMIT: its session is ended, it aborts. */
  atomic { if :: d == OPEN -> d = ABORTED :: else -> skip fi };
  resolve_p(decided)
}

/* Deletes fences and COMMIT rows. A fence goes only when no transaction
 * that was running when it was written can still be running -- D's open
 * one, and P's, open or prepared (a prepared transaction holds back the
 * xmin horizon too): in PostgreSQL, the fence's snapshot xmax is at or below
 * the oldest running xmin. A COMMIT row goes only when every branch is
 * committed. */
active proctype Collector() {
end:
  do
  :: atomic {
       row == ABORT &&
#ifdef FENCE_BY_AGE
       true
#else
       d != OPEN && p != OPEN && p != PREPARED
#endif
       -> row = NONE }
  :: atomic {
       row == COMMIT &&
#ifdef EARLY_FORGET
       true
#else
       p == COMMITTED
#endif
       -> row = NONE }
  od
}

active proctype Atomicity() {
end:
  atomic { MIXED -> assert(false) }
}

active proctype Final() {
end:
  timeout ->
  assert(p != PREPARED);
  assert(!MIXED);
  assert(!reported_committed || (d == COMMITTED && p == COMMITTED))
}
