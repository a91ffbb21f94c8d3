"""Bare routes for `make bench` (tools/bench.py): the floor each pos_mpesa figure is compared with.

- POST /pos_mpesa_bench/bare/<token>/<kind>: what any Safaricom-facing route must do at least (type
  http, auth public, read and parse the JSON body, store one row in a plain table, answer JSON);
- POST /pos_mpesa_bench/bare_jsonrpc: a jsonrpc route with auth='user' like the till's routes,
  answering the search's shape without doing any work;
- POST /pos_mpesa_bench/bare_search: the same jsonrpc route running one bare lookup of the
  claimable rows (the partial-index query of the search, nothing else): what the one SQL statement
  a search cannot avoid costs (a transaction: BEGIN, SELECT, COMMIT);
- POST /pos_mpesa_bench/bus_ping/<channel>: sends one bus notification to a channel (the bus floor
  of "STK result on the till");
- and any route, called with the header X-Bench-Capture-Sql: 1, logs the SQL its endpoint sent to
  PostgreSQL (models/ir_http.py).

Never shipped with pos_mpesa: the bench adds this folder to the addons path of its own server.
"""

import json
import time

from odoo import http
from odoo.http import request

ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}


class BenchController(http.Controller):
    @http.route(
        "/pos_mpesa_bench/bare/<string:token>/<string:kind>",
        type="http",
        auth="public",
        methods=["POST"],
        csrf=False,
        save_session=False,
    )
    def bare_callback(self, token, kind, **_query):
        raw = request.httprequest.get_data(cache=True)
        try:
            payload = json.loads(raw)
        except ValueError:
            return request.make_json_response({"ResultCode": 1, "ResultDesc": "Malformed JSON"}, status=400)
        if not isinstance(payload, dict):
            return request.make_json_response({"ResultCode": 1, "ResultDesc": "Not an object"}, status=400)
        request.env["mpesa.bench.row"].sudo().create({"kind": kind[:16], "payload": raw.decode()})
        return request.make_json_response(ACCEPTED)

    @http.route("/pos_mpesa_bench/bare_jsonrpc", type="jsonrpc", auth="user", methods=["POST"])
    def bare_jsonrpc(self, **_params):
        return {"success": True, "count": 0, "callbacks": []}

    @http.route("/pos_mpesa_bench/bare_search", type="jsonrpc", auth="user", methods=["POST"])
    def bare_search(self, amount=0, config_ids=(), window=10, **_params):
        request.env.cr.execute(
            """SELECT id FROM mpesa_callback
                WHERE status = 'success' AND duplicate_of_id IS NULL AND is_claimed IS NOT TRUE
                  AND config_id = ANY(%s) AND amount = %s
                  AND received_date >= (now() AT TIME ZONE 'UTC') - make_interval(mins => %s)
             ORDER BY received_date DESC, id DESC LIMIT 50""",
            (list(config_ids), amount, int(window)),
        )
        ids = [row[0] for row in request.env.cr.fetchall()]
        return {"success": True, "count": len(ids), "callbacks": [{"id": i} for i in ids]}

    @http.route(
        "/pos_mpesa_bench/bus_ping/<string:channel>",
        type="http",
        auth="public",
        methods=["POST"],
        csrf=False,
        save_session=False,
    )
    def bus_ping(self, channel, **_query):
        sent = time.time()
        request.env["bus.bus"].sudo()._sendone(channel, f"{channel}-BENCH_PING", {"sent": sent})
        return request.make_json_response({"sent": sent})
