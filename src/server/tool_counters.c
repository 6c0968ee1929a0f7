#include "server/tool_counters.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void ls_tool_counters_init(ls_tool_counters *t)
{
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
}

void ls_tool_counters_add(ls_tool_counters *t, const char *tool, const char *action, uint64_t n)
{
    pthread_mutex_lock(&t->lock);
    size_t i;
    for (i = 0; i < t->n; i++)
        if (strcmp(t->c[i].tool, tool) == 0 && strcmp(t->c[i].action, action) == 0)
            break;
    if (i == t->n && t->n < LS_TOOL_COUNTERS_MAX) {
        snprintf(t->c[i].tool, sizeof(t->c[i].tool), "%s", tool);
        snprintf(t->c[i].action, sizeof(t->c[i].action), "%s", action);
        t->c[i].n = 0;
        t->n++;
    }
    if (i < t->n)
        t->c[i].n += n;
    else
        t->other += n;
    pthread_mutex_unlock(&t->lock);
}

void ls_tool_counters_render(ls_tool_counters *t, ls_buf *out)
{
    ls_buf_puts(out, "# HELP logstream_tool_usage_total Publishes and deploys recognised in build "
                     "logs (tool-usage events, dry runs excluded).\n"
                     "# TYPE logstream_tool_usage_total counter\n");
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->n; i++)
        ls_buf_printf(out, "logstream_tool_usage_total{tool=\"%s\",action=\"%s\"} %" PRIu64 "\n",
                      t->c[i].tool, t->c[i].action, t->c[i].n);
    if (t->other)
        ls_buf_printf(out,
                      "logstream_tool_usage_total{tool=\"other\",action=\"other\"} %" PRIu64 "\n",
                      t->other);
    pthread_mutex_unlock(&t->lock);
}
