#include "server/routes_ops.h"

#include "server/fanout.h"
#include "server/live.h"

static enum MHD_Result healthz(ls_req *r)
{
    json_t *obj = json_pack("{s:s}", "status", "ok");
    return ls_req_respond_json(r, MHD_HTTP_OK, obj);
}

static enum MHD_Result metrics(ls_req *r)
{
    ls_buf out = LS_BUF_INIT;
    ls_metrics_gauges g = {
        .pending_bytes = ls_live_pending_bytes(r->srv->live),
        .live_steps = ls_live_count(r->srv->live),
    };
    ls_metrics_render(&r->srv->metrics, &g, &out);
    ls_fanout_render_metrics(r->srv->fanout, &out);
    enum MHD_Result ret = ls_req_respond_buf(r, MHD_HTTP_OK, "text/plain; version=0.0.4",
                                             out.data ? out.data : "", out.len);
    ls_buf_free(&out);
    return ret;
}

const ls_handler ls_healthz_handler = {.begin = healthz};
const ls_handler ls_metrics_handler = {.begin = metrics};
