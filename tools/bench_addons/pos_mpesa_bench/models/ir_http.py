"""SQL of one request on demand: a request with the header X-Bench-Capture-Sql: 1 (on a database
where the bench enabled pos_mpesa_bench.capture_sql) logs every statement its endpoint executed,
as one line `BENCH_SQL <path> <json>` in the server log. Other requests pay one header lookup."""

import json
import logging
import re
import threading

from odoo import models
from odoo.http import request

_logger = logging.getLogger(__name__)


class IrHttp(models.AbstractModel):
    _inherit = "ir.http"

    @classmethod
    def _dispatch(cls, endpoint):
        if request.httprequest.headers.get("X-Bench-Capture-Sql") != "1" or (
            request.env["ir.config_parameter"].sudo().get_param("pos_mpesa_bench.capture_sql") != "1"
        ):
            return super()._dispatch(endpoint)
        statements = []

        def hook(cr, query, params, start, delay):
            statements.append({"sql": cr._format(query, params), "ms": round(delay * 1000, 3)})

        thread = threading.current_thread()
        previous = getattr(thread, "query_hooks", ())
        thread.query_hooks = (*previous, hook)
        try:
            return super()._dispatch(endpoint)
        finally:
            thread.query_hooks = previous
            # a callback URL's secret token stays out of the log
            path = re.sub(r"/[0-9a-f]{16,}(?=/|$)", "/***", request.httprequest.path)
            _logger.info("BENCH_SQL %s %s", path, json.dumps(statements))
