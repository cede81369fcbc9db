/*
 * limit.c — per-client rate and concurrency limits (the seeds' 并发控制).
 *
 * Each client address gets a token bucket (rate, burst) and an in-flight count.
 * Slots live in a fixed open-addressed table split into shards, each with its own
 * lock, so the limiter never allocates and one busy client does not serialise the
 * others.  When a client uses 80 % of either allowance an early warning is counted
 * (ehall_http_client_limit_warnings_total) and logged at most once a minute per
 * client, before anyone is refused.
 *
 * These limits protect one node from one client; they are per process by design.
 * Quotas that must hold across a cluster (an API key's daily calls) belong in the
 * database.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"
#include "http/internal.h"

#define SHARDS          16
#define SLOTS_PER_SHARD 512
#define PROBES          16

struct slot {
    char client[48];
    double tokens, last, warned_at;
    int inflight;
};

struct shard {
    pthread_mutex_t mu;
    struct slot slots[SLOTS_PER_SHARD];
};

static struct shard g_shards[SHARDS];
static struct limit_config g_cfg;
static atomic_ullong g_rejected_rate, g_rejected_conc, g_warnings, g_untracked;

void limit_init(const struct limit_config *cfg)
{
    g_cfg = *cfg;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_init(&g_shards[i].mu, NULL);
        memset(g_shards[i].slots, 0, sizeof g_shards[i].slots);
    }
}

static unsigned long hash(const char *s)
{
    unsigned long h = 1469598103934665603UL; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211UL;
    return h;
}

enum limit_verdict limit_enter(const char *client, int *slot_out)
{
    *slot_out = -1;
    if (g_cfg.rate <= 0) return LIMIT_OK;
    unsigned long h = hash(client);
    int shard = (int)(h % SHARDS);
    struct shard *sh = &g_shards[shard];
    double now = now_monotonic();
    pthread_mutex_lock(&sh->mu);
    struct slot *s = NULL, *victim = NULL;
    for (int p = 0; p < PROBES; p++) {
        struct slot *c = &sh->slots[(h / SHARDS + (unsigned long)p) % SLOTS_PER_SHARD];
        if (strcmp(c->client, client) == 0) {
            s = c;
            break;
        }
        /* an empty slot, or the stalest idle one, may be taken over */
        if (c->inflight == 0 && (!victim || c->last < victim->last)) victim = c;
        if (!c->client[0]) break;
    }
    if (!s) {
        if (!victim) { /* every probed slot has requests in flight: admit untracked */
            pthread_mutex_unlock(&sh->mu);
            atomic_fetch_add(&g_untracked, 1);
            return LIMIT_OK;
        }
        s = victim;
        snprintf(s->client, sizeof s->client, "%s", client);
        s->tokens = g_cfg.burst;
        s->last = now;
        s->inflight = 0;
        s->warned_at = 0;
    }
    s->tokens += (now - s->last) * g_cfg.rate;
    if (s->tokens > g_cfg.burst) s->tokens = g_cfg.burst;
    s->last = now;
    enum limit_verdict v = LIMIT_OK;
    if (s->inflight >= g_cfg.concurrency)
        v = LIMIT_CONCURRENCY;
    else if (s->tokens < 1.0)
        v = LIMIT_RATE;
    int warn = 0;
    if (v == LIMIT_OK) {
        s->tokens -= 1.0;
        s->inflight++;
        *slot_out = shard * SLOTS_PER_SHARD + (int)(s - sh->slots);
        if ((s->tokens < g_cfg.burst * 0.2 || s->inflight > g_cfg.concurrency * 0.8) &&
            now - s->warned_at > 60) {
            s->warned_at = now;
            warn = 1;
        }
    }
    pthread_mutex_unlock(&sh->mu);
    if (warn) {
        atomic_fetch_add(&g_warnings, 1);
        log_warn("client %s is near its limits (%.0f req/s, %d in flight)", client, g_cfg.rate,
                 g_cfg.concurrency);
    }
    if (v == LIMIT_RATE) atomic_fetch_add(&g_rejected_rate, 1);
    if (v == LIMIT_CONCURRENCY) atomic_fetch_add(&g_rejected_conc, 1);
    return v;
}

void limit_leave(int slot)
{
    if (slot < 0) return;
    struct shard *sh = &g_shards[slot / SLOTS_PER_SHARD];
    pthread_mutex_lock(&sh->mu);
    sh->slots[slot % SLOTS_PER_SHARD].inflight--;
    pthread_mutex_unlock(&sh->mu);
}

void limit_metrics_render(void *strbuf)
{
    struct strbuf *sb = strbuf;
    sb_printf(
        sb,
        "# HELP ehall_http_limited_total Requests refused by the per-client limits.\n"
        "# TYPE ehall_http_limited_total counter\n"
        "ehall_http_limited_total{reason=\"rate\"} %llu\n"
        "ehall_http_limited_total{reason=\"concurrency\"} %llu\n"
        "# HELP ehall_http_client_limit_warnings_total Early warnings: a client used 80%% of an allowance.\n"
        "# TYPE ehall_http_client_limit_warnings_total counter\n"
        "ehall_http_client_limit_warnings_total %llu\n"
        "# HELP ehall_http_limit_untracked_total Requests admitted without a limiter slot (table full).\n"
        "# TYPE ehall_http_limit_untracked_total counter\n"
        "ehall_http_limit_untracked_total %llu\n",
        (unsigned long long)atomic_load(&g_rejected_rate), (unsigned long long)atomic_load(&g_rejected_conc),
        (unsigned long long)atomic_load(&g_warnings), (unsigned long long)atomic_load(&g_untracked));
}

/* ---------- named pools: a token bucket per client for one kind of request ----------
 *
 * For endpoints that need a tighter allowance than the server-wide one (public
 * look-ups such as invoice verification).  Same sharded, never-allocating table as
 * above (allocated once per pool); no in-flight count.  Per process, like the rest. */

struct limit_pool {
    double rate, burst;
    struct shard shards[SHARDS];
};

struct limit_pool *limit_pool_new(double rate, double burst)
{
    struct limit_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->rate = rate;
    p->burst = burst < 1 ? 1 : burst;
    for (int i = 0; i < SHARDS; i++) pthread_mutex_init(&p->shards[i].mu, NULL);
    return p;
}

int limit_pool_take(struct limit_pool *p, const char *client, double *retry_after)
{
    if (retry_after) *retry_after = 0;
    if (!p || p->rate <= 0) return 0;
    unsigned long h = hash(client);
    struct shard *sh = &p->shards[h % SHARDS];
    double now = now_monotonic();
    pthread_mutex_lock(&sh->mu);
    struct slot *s = NULL, *victim = NULL;
    for (int i = 0; i < PROBES; i++) {
        struct slot *c = &sh->slots[(h / SHARDS + (unsigned long)i) % SLOTS_PER_SHARD];
        if (strcmp(c->client, client) == 0) {
            s = c;
            break;
        }
        if (!victim || c->last < victim->last) victim = c;
        if (!c->client[0]) break;
    }
    if (!s) {
        s = victim;
        snprintf(s->client, sizeof s->client, "%s", client);
        s->tokens = p->burst;
        s->last = now;
    }
    s->tokens += (now - s->last) * p->rate;
    if (s->tokens > p->burst) s->tokens = p->burst;
    s->last = now;
    int refused = s->tokens < 1.0;
    if (refused) {
        if (retry_after) *retry_after = (1.0 - s->tokens) / p->rate;
    } else {
        s->tokens -= 1.0;
    }
    pthread_mutex_unlock(&sh->mu);
    if (refused) atomic_fetch_add(&g_rejected_rate, 1);
    return refused;
}
