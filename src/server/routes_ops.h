/* Operational endpoints: GET /healthz and GET /metrics. */
#ifndef LS_SERVER_ROUTES_OPS_H
#define LS_SERVER_ROUTES_OPS_H

#include "server/http.h"

extern const ls_handler ls_healthz_handler;
extern const ls_handler ls_metrics_handler;

#endif
