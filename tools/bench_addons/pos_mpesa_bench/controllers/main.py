"""Bare routes for `make bench` (tools/bench.py): the floor each pos_mpesa figure is compared with.

- POST /pos_mpesa_bench/bare/<token>/<kind>: what any Safaricom-facing route must do at least (type
  http, auth public, read and parse the JSON body, store one row in a plain table, answer JSON);
- POST /pos_mpesa_bench/bare_jsonrpc: a jsonrpc route with auth='user' like the till's routes,
  answering the search's shape without doing any work;
- POST /pos_mpesa_bench/bare_search: the same jsonrpc route running one bare lookup of the
  claimable rows (the partial-index query of the search, nothing else): what the one SQL statement
  a search cannot avoid costs (a transaction: BEGIN, SELECT, COMMIT);
- POST /pos_mpesa_bench/bare_receipt, /pos_mpesa_bench/bare_phone: the same jsonrpc route running the
  one statement the till's search sends for a receipt code (models/mpesa_c2b.py _c2b_search_receipt)
  or for phone digits (_c2b_search with text, any amount), the same text, nothing else;
- POST /pos_mpesa_bench/bare_statement: the daily statement's aggregate for a range of days, the
  pivot's grouping sets (all, per day, per account, per day and account) over the view
  mpesa_daily_statement, in bare SQL;
- POST /pos_mpesa_bench/bus_ping/<channel>: sends one bus notification to a channel (the bus floor
  of "STK result on the till");
- and any route, called with the header X-Bench-Capture-Sql: 1, logs the SQL its endpoint sent to
  PostgreSQL (models/ir_http.py).

Never shipped with pos_mpesa: the bench adds this folder to the addons path of its own server.
"""

import json
import time
from datetime import timedelta

from odoo import fields, http
from odoo.http import request

ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}
# the till's search as pos_mpesa sends it (models/mpesa_c2b.py _c2b_search_rows, CLAIMABLE_SQL)
SEARCH_SQL = """SELECT id, mpesa_receipt_number, phone_number, customer_name, amount,
                          transaction_date, received_date, callback_type, bill_ref_number, source
                     FROM mpesa_callback
                    WHERE status = 'success' AND duplicate_of_id IS NULL AND is_claimed IS NOT TRUE
                      AND {where}
                 ORDER BY received_date DESC, id DESC
                    LIMIT 50"""
STK_WAIT_SECONDS = 75  # an STK payment is offered once its till gave up or its 75 s are over


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

    @http.route("/pos_mpesa_bench/bare_receipt", type="jsonrpc", auth="user", methods=["POST"])
    def bare_receipt(self, receipt="", config_ids=(), **_params):
        where = "config_id = ANY(%s) AND mpesa_receipt_number = %s"
        return _rows(SEARCH_SQL.format(where=where), (list(config_ids), receipt))

    @http.route("/pos_mpesa_bench/bare_phone", type="jsonrpc", auth="user", methods=["POST"])
    def bare_phone(self, digits="", config_ids=(), window=10, **_params):
        now = fields.Datetime.now()
        where = (
            "config_id = ANY(%s) AND received_date >= %s"
            " AND (callback_type = 'c2b' OR stk_abandoned OR request_date <= %s)"
            " AND phone_number LIKE %s"
        )
        params = (
            list(config_ids),
            now - timedelta(minutes=int(window)),
            now - timedelta(seconds=STK_WAIT_SECONDS),
            "%" + digits,
        )
        return _rows(SEARCH_SQL.format(where=where), params)

    @http.route("/pos_mpesa_bench/bare_statement", type="jsonrpc", auth="user", methods=["POST"])
    def bare_statement(self, first=None, last=None, **_params):
        request.env.cr.execute(
            """SELECT day, config_id, count(*), sum(received_amount), sum(pos_amount),
                      sum(unclaimed_amount), array_agg(DISTINCT currency_id)
                 FROM mpesa_daily_statement
                WHERE day >= %s AND day <= %s
             GROUP BY GROUPING SETS ((), (day), (config_id), (day, config_id))
             ORDER BY day, config_id""",
            (first, last),
        )
        groups = [
            {"day": str(row[0]) if row[0] else None, "config_id": row[1], "__count": row[2]}
            for row in request.env.cr.fetchall()
        ]
        return {"success": True, "count": len(groups), "groups": groups}

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


def _rows(sql, params):
    request.env.cr.execute(sql, params)
    rows = request.env.cr.dictfetchall()
    callbacks = [{"id": row["id"], "mpesa_receipt_number": row["mpesa_receipt_number"]} for row in rows]
    return {"success": True, "count": len(callbacks), "callbacks": callbacks}
