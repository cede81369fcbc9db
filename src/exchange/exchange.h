/*
 * exchange — the durable queue between the acceptance zone (`ehall serve`) and the
 * processing zone (workers that call back-end connectors), see docs/exchange.md.
 *
 * A change that must reach a back-end queues a message with exchange_enqueue inside
 * its own write transaction, so the message exists exactly when the change does.
 * Workers — threads inside `ehall serve` (exchange.workers) or `ehall worker`
 * processes — lease up to exchange.batch due messages at once in one short
 * transaction, call each message's connector outside any transaction, and complete
 * the batch in one transaction: a message still leased by that worker is marked done
 * and the result handler registered for its kind runs in that same transaction, so
 * its effect happens exactly once even when two workers raced after a lease expired
 * (the loser finds the lease is not its own and discards its answer).  A connector
 * must be idempotent by the message's idem_key: a message may be delivered again
 * after a crash between the call and the completion, and the back-end must answer
 * the repeat with what it answered the first time (the simulated back-end "sim" does).
 *
 * Transient failures are retried with exponential back-off and jitter; after
 * exchange.max_attempts calls the message is a dead letter, which staff can list and
 * replay.  `ehall reconcile --date D` compares ehall's ledger (the done messages of D)
 * with the back-end's.
 */
#ifndef EHALL_EXCHANGE_H
#define EHALL_EXCHANGE_H

#include <stddef.h>

#include "core/metrics.h"
#include "store/store.h"

struct config;

/* ---- queueing (the contract with the case engine) ---- */

/* In the caller's write transaction: queue one message for connector (e.g. "sim").
 * idem_key (1..200 characters) is unique: a second enqueue with the same key is a
 * no-op returning STORE_OK with *id of the first.  case_id may be 0 (no case);
 * payload_json is JSON text (the connector reads it).  *id may be NULL.  Returns a
 * STORE_* code.  After the transaction commits, call exchange_kick() so an idle
 * worker in this process picks the message up at once (otherwise within
 * exchange.poll_ms). */
int exchange_enqueue(store_conn *c, const char *idem_key, const char *kind, const char *connector,
                     long long case_id, const char *payload_json, long long *id);
/* Wake this process's idle workers (cheap; call after a commit that queued messages). */
void exchange_kick(void);

/* Result handlers by kind, registered at start-up (before workers run): called inside
 * the transaction that marks the message done, so the effect happens exactly once.
 * outcome is "ok" or "refused"; result_json the connector's answer (JSON text).  Return
 * STORE_OK, or an error code: the completion is then rolled back and the message is
 * retried like a transient failure (STORE_BUSY is retried at once). */
typedef int (*exchange_result_fn)(store_conn *c, long long msg_id, long long case_id, const char *kind,
                                  const char *outcome /* "ok"|"refused" */, const char *result_json);
void exchange_on_result(const char *kind, exchange_result_fn fn);

/* ---- connectors ---- */

struct exchange_msg {
    long long id;
    const char *idem_key, *kind, *connector;
    long long case_id;
    const char *payload; /* JSON text */
    long long attempts;  /* calls so far, this one included */
};

enum exchange_call_rc {
    EXCHANGE_ANSWERED = 0, /* outcome and result are set */
    EXCHANGE_TRANSIENT,    /* try again later (back-off); error says why */
    EXCHANGE_PERMANENT     /* never going to work (bad payload …): dead letter at once */
};

/* What a connector answers for one message. */
struct exchange_answer {
    int rc;               /* enum exchange_call_rc */
    char outcome[16];     /* "ok" or "refused" */
    struct strbuf result; /* JSON text, e.g. {"reference":"…"} or {"reason":"…"}; freed by the caller */
    char error[256];      /* for TRANSIENT/PERMANENT */
};

/* What connectors get: the store (the simulated back-end keeps its ledger there) and
 * the configuration. */
struct exchange_ctx {
    store *db;
    const struct config *cfg;
};

struct exchange_connector {
    const char *name;
    /* One message; fills ans and returns ans->rc.  Called outside any transaction,
     * possibly from several threads at once. */
    int (*call)(const struct exchange_ctx *ctx, const struct exchange_msg *msg, struct exchange_answer *ans);
    /* Optional: n messages at once (ans[i] for msgs[i]); NULL = call() one by one. */
    void (*call_batch)(const struct exchange_ctx *ctx, const struct exchange_msg *msgs, size_t n,
                       struct exchange_answer *ans);
    /* Optional: a query answered at once, not queued and not recorded (kind + payload).
     * NULL = call() with a message that has no idem_key. */
    int (*query)(const struct exchange_ctx *ctx, const char *kind, const char *payload,
                 struct exchange_answer *ans);
};

/* Register a connector (at start-up; the struct must outlive the process).  A name
 * registered again replaces the earlier one.  -1 when the table is full. */
int exchange_register_connector(const struct exchange_connector *conn);
const struct exchange_connector *exchange_connector_find(const char *name);

/* The built-in simulated back-end ("sim", sim.c). */
extern const struct exchange_connector exchange_sim_connector;

/* Queries "may be answered directly": call connector for kind/payload now, outside the
 * queue (nothing is recorded).  Needs exchange_setup.  Returns ans->rc, or
 * EXCHANGE_PERMANENT for an unknown connector.  Free ans->result with sb_free. */
int exchange_call_direct(const char *connector, const char *kind, const char *payload_json,
                         struct exchange_answer *ans);

/* ---- running ---- */

/* Once at start-up, before workers: remembers db and cfg for the connectors and
 * registers the built-ins (connector "sim", result handler of the test kind
 * "test.echo").  Register the application's result handlers after it. */
void exchange_setup(store *db, const struct config *cfg);
/* Start nthreads worker threads (0: none) / stop and join them (in-flight batches finish). */
int exchange_start(int nthreads);
void exchange_stop(void);

/* One round of one worker: lease a batch under lease owner `owner` (unique per lease
 * round: the caller adds a sequence number), call the connectors and complete.  Returns
 * the number of messages leased (0: nothing due), or -1 when the database failed. */
int exchange_run_once(const char *owner);

/* Staff's replay of a dead letter, inside the caller's transaction: dead → queued, due
 * now, attempts reset.  STORE_OK, STORE_DONE when there is no such message, 1 when the
 * message is not dead (its state in state_out, 16 bytes). */
int exchange_replay(store_conn *c, long long id, char state_out[16]);

/* ---- reconciliation (reconcile.c) ---- */

struct exchange_recon {
    char day[11];
    long long ehall_count, backend_count;
    long long missing, duplicated, mismatched;
    long long report_id;
    char *details; /* JSON text (malloc'd): {"missing_in_backend":[…],"missing_in_ehall":[…],
                      "duplicated":[…],"mismatched":[…]}, each list capped at 1000 entries */
};
/* Compare ehall's ledger (messages done on day YYYY-MM-DD) with the back-end's (the
 * simulated back-end's sim_ledger) and store a report (source "manual" or "scheduled";
 * a scheduled report is stored once per day), audited as exchange.reconcile by actor.
 * Returns 0 when clean, 1 when anything is off, 2 when a scheduled report for the day
 * exists already (nothing stored), a STORE_* error < 0 on failure.  Free out->details. */
int exchange_reconcile(store *db, const char *day, const char *source, const char *actor,
                       struct exchange_recon *out);
/* The scheduled run: once exchange.reconcile_hour has passed, reconcile yesterday
 * unless a scheduled report for it exists.  Called by the first worker thread. */
void exchange_reconcile_due(store *db, const struct config *cfg);

/* "YYYY-MM-DD" of ms-since-epoch in the process's zone. */
void exchange_day(long long ms, char out[11]);
long long exchange_now_ms(void);

#endif
