/*
 * store_internal.h — what a driver implements.  Only the store module includes this.
 */
#ifndef EHALL_STORE_INTERNAL_H
#define EHALL_STORE_INTERNAL_H

#include "store/store.h"

/* Every driver's statement begins with this header. */
struct store_stmt {
    store_conn *conn;
};

struct store_driver {
    const char *name;
    enum store_engine engine;
    /* url is the full URL; returns driver connection or NULL with err filled */
    void *(*connect)(const char *url, const struct store_options *opt, char *err, size_t errlen);
    void (*disconnect)(void *dc);
    /* 1 when the connection is unusable and should be replaced */
    int (*broken)(void *dc);
    int (*exec)(void *dc, const char *sql);
    struct store_stmt *(*prepare)(void *dc, const char *sql);
    int (*bind_text)(struct store_stmt *st, int idx, const char *v);
    int (*bind_int64)(struct store_stmt *st, int idx, long long v);
    int (*bind_null)(struct store_stmt *st, int idx);
    int (*step)(struct store_stmt *st);
    int (*column_count)(struct store_stmt *st);
    const char *(*column_text)(struct store_stmt *st, int col);
    long long (*column_int64)(struct store_stmt *st, int col);
    int (*column_is_null)(struct store_stmt *st, int col);
    void (*finalize)(struct store_stmt *st);
    const char *(*errmsg)(void *dc);
    /* BEGIN for a write (1) or read (0) transaction */
    const char *(*begin_sql)(int write);
};

struct store_conn {
    store *s;
    void *dc; /* driver connection */
    int in_tx;
    void (*after_commit)(store *s); /* store_after_commit: run once this transaction commits */
};

extern const struct store_driver store_sqlite_driver;
extern const struct store_driver store_postgres_driver;

#endif
