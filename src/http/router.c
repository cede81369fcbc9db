/*
 * router.c — matching a method and path against the route table.
 *
 * Patterns are literal segments and `{name}` segments that match exactly one
 * non-empty segment.  The table is small and scanned in order; the first match wins,
 * so list literal routes before parameterised ones that could shadow them.
 */
#include <string.h>

#include "http/internal.h"

/* Compare one pattern to a path; on a match, optionally record parameters. */
static int match(const char *pat, const char *path, http_req *r)
{
    int np = 0;
    while (*pat && *path) {
        if (*pat != '/' || *path != '/') return 0;
        pat++;
        path++;
        const char *pe = strchr(pat, '/'), *se = strchr(path, '/');
        size_t pl = pe ? (size_t)(pe - pat) : strlen(pat);
        size_t sl = se ? (size_t)(se - path) : strlen(path);
        if (pl >= 2 && pat[0] == '{' && pat[pl - 1] == '}') {
            if (sl == 0 || np >= HTTP_MAX_PARAMS) return 0;
            if (r) {
                r->param_names[np] = arena_strndup(r->a, pat + 1, pl - 2);
                r->param_values[np] = arena_strndup(r->a, path, sl);
                if (!r->param_names[np] || !r->param_values[np]) return 0;
            }
            np++;
        } else if (pl != sl || memcmp(pat, path, pl) != 0) {
            return 0;
        }
        pat += pl;
        path += sl;
    }
    if (*pat || *path) return 0;
    if (r) r->nparams = np;
    return 1;
}

int http_route_match(const struct http_route *routes, size_t n, const char *method, const char *path,
                     int *method_ok)
{
    int path_hit = -1;
    if (strcmp(method, "HEAD") == 0) method = "GET";
    for (size_t i = 0; i < n; i++) {
        if (!match(routes[i].pattern, path, NULL)) continue;
        if (strcmp(routes[i].method, method) == 0) {
            *method_ok = 1;
            return (int)i;
        }
        if (path_hit < 0) path_hit = (int)i;
    }
    *method_ok = 0;
    return path_hit;
}

int http_route_bind(http_req *r, const struct http_route *route)
{
    return match(route->pattern, r->path, r) ? 0 : -1;
}

const char *http_req_param(http_req *r, const char *name)
{
    for (int i = 0; i < r->nparams; i++)
        if (strcmp(r->param_names[i], name) == 0) return r->param_values[i];
    return NULL;
}
