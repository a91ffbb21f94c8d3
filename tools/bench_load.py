"""`make bench`'s data: N mpesa_callback rows by SQL, a realistic mix over 90 days, in one statement.

The mix (fractions of the generated rows, see MIX): STK 45 % / C2B 55 %; STK: 72 % success, then
cancelled, timeout, failed, needs review, invalid (no old pending push: the recovery cron settles
them within 30 minutes); C2B: 96 % success, then validation-only
pending, needs review, invalid. Successful rows are claimed at 97 % (STK) / 93 % (C2B),
only half of them within the last hour; some unclaimed STK rows were given up by the till.
Amounts: half are the popular shop prices (50, 100, ... 2000 KES), the others 10-5000 KES.
Rows are spread over the given accounts by weight (several accounts in several companies),
received_date uniformly over 90 days (so about N/130,000 rows in any 10 minutes).

The loader reads the live table's columns: it fills the ones it knows, leaves other nullable or
defaulted ones alone, and stops with a clear message when a NOT NULL column is new to it (the
models may change under it). Secondary indexes are dropped during the insert and rebuilt from
their own definitions afterwards (much faster than a million index insertions), foreign keys are
not checked during the insert (session_replication_role = replica, the rows are consistent by
construction), then VACUUM ANALYZE, as a real table that autovacuum maintains.
"""

import subprocess
import time

from common import fail
from pg import find_client, quote_literal

POPULAR_AMOUNTS = (50, 100, 150, 200, 250, 300, 500, 1000, 1500, 2000)
STK_SHARE = 0.45
MIX = {
    "stk": [
        ("success", 0.72),
        ("cancelled", 0.12),
        ("timeout", 0.08),
        ("failed", 0.04),
        ("needs_review", 0.035),
        ("invalid", 0.005),
    ],
    "c2b": [("success", 0.96), ("pending", 0.01), ("needs_review", 0.015), ("invalid", 0.015)],
}
CLAIMED = {"stk": 0.97, "c2b": 0.93}
RESULT_CODES = {
    "success": ("0", "The service request is processed successfully.", "paid"),
    "cancelled": ("1032", "Request cancelled by user", "cancelled"),
    "timeout": ("1037", "DS timeout user cannot be reached", "timeout"),
    "failed": ("1", "The balance is insufficient for the transaction.", "insufficient_balance"),
    "needs_review": ("9999", "Unknown result", "unknown"),
    "pending": (None, None, None),
    "invalid": (None, None, None),
}
BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
FIRST_NAMES = ("JOHN", "MARY", "PETER", "GRACE", "JAMES", "FAITH", "DAVID", "MERCY", "BRIAN", "ANN")


def _case(selector: str, pairs) -> str:
    """CASE over cumulative thresholds of a uniform random column."""
    parts, total = [], 0.0
    for value, share in pairs[:-1]:
        total += share
        parts.append(f"WHEN {selector} < {total:.6f} THEN {value}")
    return f"CASE {' '.join(parts)} ELSE {pairs[-1][0]} END"


def _lit(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return str(value)
    return quote_literal(str(value))


def _array(values, cast: str) -> str:
    return f"(ARRAY[{', '.join(_lit(v) for v in values)}]::{cast}[])"


def psql_script(pg, db, script: str, timeout=600) -> str:
    """Run a psql script (SQL and backslash commands) from stdin; its output. Stops at the first error."""
    proc = subprocess.run(
        [find_client("psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", "-"],
        input=script,
        env=pg.env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode:
        fail(f"psql script on {db} failed: {proc.stderr.strip()[-800:]}")
    return proc.stdout


def table_columns(pg, db) -> dict[str, tuple[bool, bool]]:
    """{column: (not_null, has_default)} of mpesa_callback."""
    rows = pg.query(
        "SELECT column_name, is_nullable, column_default IS NOT NULL FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = 'mpesa_callback'",
        db=db,
    )
    columns = {}
    for row in rows:
        name, nullable, has_default = row.split("|")
        columns[name] = (nullable == "NO", has_default == "t")
    return columns


def _receipt_sql() -> str:
    """An M-Pesa receipt as Safaricom writes them (e.g. "TL47K3X9QZ"): a letter for the year (R = 2023,
    S = 2024, ...), a letter for the month (A = January), the day of the month (1-9, then A-V), a
    digit, then 6 characters that look random: the row id scrambled (times an odd number prime to
    36, modulo 36^6: a bijection, so receipts are unique below 2 billion rows)."""
    local = "(v.recv + interval '3 hours')"
    scrambled = f"((v.id::bigint * 2654435761) % {36**6})"
    tail = " || ".join(
        f"substr('{BASE36}', (({scrambled} / {36**k}) % 36)::int + 1, 1)" for k in range(5, -1, -1)
    )
    return (
        f"(chr(82 + extract(year FROM {local})::int - 2023) "
        f"|| chr(64 + extract(month FROM {local})::int) "
        f"|| substr('{BASE36[1:32]}', extract(day FROM {local})::int, 1) "
        f"|| (v.id % 10)::text || {tail})"
    )


def _expressions(ctx) -> dict[str, str]:
    """Column -> SQL expression over the generated row `v` (see _select)."""
    accounts = ctx["accounts"]
    config = f"{_array([a['config_id'] for a in accounts], 'int')}[v.k]"
    company = f"{_array([a['company_id'] for a in accounts], 'int')}[v.k]"
    shortcode = f"{_array([a['shortcode'] for a in accounts], 'text')}[v.k]"
    c2b_type = f"{_array([a['c2b_transaction_type'] for a in accounts], 'text')}[v.k]"
    pos_config = f"{_array([a.get('pos_config_id') for a in accounts], 'int')}[v.k]"
    method = f"{_array([a.get('payment_method_id') for a in accounts], 'int')}[v.k]"
    receipt = _receipt_sql()
    checkout = "('ws_CO_' || to_char(v.recv, 'DDMMYYYYHH24MISS') || v.id)"
    has_receipt = "(v.status IN ('success', 'needs_review') OR (v.ctype = 'c2b' AND v.status = 'pending'))"
    names = _array(FIRST_NAMES, "text")
    # Daraja's C2B MSISDN: masked ("2547 ***** 126", the last 3 digits kept) on 4 rows in 5, hashed
    # (64 hex digits, as v2 apps and older confirmations send it) on the others
    phone_c2b = (
        "(CASE WHEN v.id % 5 = 0 THEN md5(v.id::text) || md5((v.id + 1)::text) "
        "ELSE CASE WHEN v.id % 7 = 0 THEN '2541' ELSE '2547' END || ' ***** ' "
        "|| lpad(((v.id::bigint * 7919) % 1000)::text, 3, '0') END)"
    )
    phone_stk = "('2547' || lpad((v.id % 100000000)::text, 8, '0'))"
    trans_time = "to_char(v.recv + interval '3 hours', 'YYYYMMDDHH24MISS')"
    c2b_raw = (
        'format(\'{"TransactionType":"%s","TransID":"%s","TransTime":"%s","TransAmount":'
        '"%s.00","BusinessShortCode":"%s","BillRefNumber":"Till %s","InvoiceNumber":"",'
        '"OrgAccountBalance":"%s.00","ThirdPartyTransID":"","MSISDN":"%s","FirstName":'
        '"%s","MiddleName":"","LastName":""}\', '
        f"{c2b_type}, {receipt}, {trans_time}, v.amt, {shortcode}, 1 + v.id % 30, "
        f"v.id % 900000, {phone_c2b}, {names}[1 + v.id % 10])"
    )
    stk_raw = (
        'format(\'{"Body":{"stkCallback":{"MerchantRequestID":"%s","CheckoutRequestID":"%s",'
        '"ResultCode":%s,"ResultDesc":"%s","CallbackMetadata":{"Item":[{"Name":"Amount",'
        '"Value":%s},{"Name":"MpesaReceiptNumber","Value":"%s"},{"Name":"Balance"},'
        '{"Name":"TransactionDate","Value":%s},{"Name":"PhoneNumber","Value":%s}]}}}}\', '
        f"'b' || v.id || '-1', {checkout}, coalesce(v.code, '0'), coalesce(v.descr, ''), v.amt, "
        f"{receipt}, {trans_time}, {phone_stk})"
    )
    is_stk = "(v.ctype = 'stk')"
    return {
        "id": "v.id",
        "name": f"CASE WHEN {has_receipt} THEN {receipt} WHEN {is_stk} THEN {checkout} ELSE NULL END",
        "callback_type": "v.ctype",
        "status": "v.status",
        "result_code": "v.code",
        "result_desc": "v.descr",
        "reason": "v.reason",
        "review_reason": "CASE WHEN v.status = 'needs_review' THEN 'Unknown result code 9999' "
        "WHEN v.status = 'invalid' THEN 'Malformed JSON' END",
        "merchant_request_id": f"CASE WHEN {is_stk} THEN 'b' || v.id || '-1' END",
        "checkout_request_id": f"CASE WHEN {is_stk} AND v.status <> 'invalid' THEN {checkout} END",
        "mpesa_receipt_number": f"CASE WHEN {has_receipt} THEN {receipt} END",
        "currency_id": str(int(ctx["currency_id"])),
        "amount": "CASE WHEN v.status = 'invalid' THEN NULL ELSE v.amt END",
        "requested_amount": f"CASE WHEN {is_stk} THEN v.amt END",
        "phone_number": f"CASE WHEN v.status = 'invalid' THEN NULL WHEN {is_stk} THEN {phone_stk} "
        f"ELSE {phone_c2b} END",
        "request_phone": f"CASE WHEN {is_stk} THEN {phone_stk} END",
        "customer_name": f"CASE WHEN v.ctype = 'c2b' AND v.status <> 'invalid' "
        f"THEN {names}[1 + v.id % 10] END",
        "bill_ref_number": "CASE WHEN v.ctype = 'c2b' THEN 'Till ' || (1 + v.id % 30) END",
        "transaction_type": f"CASE WHEN v.ctype = 'c2b' AND v.status <> 'invalid' THEN {c2b_type} END",
        "business_shortcode": f"CASE WHEN v.status <> 'invalid' THEN {shortcode} END",
        "order_reference": f"CASE WHEN {is_stk} THEN 'Order ' || lpad((v.id % 100000)::text, 5, '0') END",
        "transaction_date": "CASE WHEN v.status IN ('success', 'needs_review') "
        "THEN v.recv - interval '2 seconds' END",
        "received_date": "v.recv",
        "request_date": f"CASE WHEN {is_stk} THEN v.recv - make_interval(secs => 15 + v.rr * 45) END",
        "raw_payload": f"CASE WHEN v.status = 'invalid' THEN '{{\"Body\": tru' WHEN {is_stk} "
        f"THEN {stk_raw} ELSE {c2b_raw} END",
        "payload_truncated": "FALSE",
        "source": f"CASE WHEN {is_stk} AND v.status = 'pending' THEN 'pos' ELSE 'token_url' END",
        "remote_addr": "'196.201.214.200'",
        "is_validation": "(v.ctype = 'c2b' AND v.status = 'pending')",
        "callback_received": f"({is_stk} AND v.status NOT IN ('pending', 'invalid'))",
        "confirmed_by_query": "FALSE",
        "query_count": f"CASE WHEN {is_stk} AND v.status = 'timeout' THEN 1 ELSE 0 END",
        "duplicate_count": "CASE WHEN v.rr < 0.01 THEN 1 ELSE 0 END",
        "stk_abandoned": f"({is_stk} AND v.status = 'success' AND NOT v.rec AND v.rs < 0.5)",
        "config_id": f"CASE WHEN v.status = 'invalid' AND v.rr < 0.5 THEN NULL ELSE {config} END",
        "company_id": company,
        "pos_config_id": f"CASE WHEN {is_stk} OR v.rec THEN {pos_config} END",
        "payment_method_id": f"CASE WHEN {is_stk} THEN {method} END",
        "user_id": f"CASE WHEN {is_stk} THEN {int(ctx['cashier_uid'])} END",
        "is_claimed": "v.rec",
        "claim_date": "CASE WHEN v.rec THEN v.recv + interval '40 seconds' END",
        "claimed_by_id": f"CASE WHEN v.rec THEN {int(ctx['cashier_uid'])} END",
        "claim_order_key": "CASE WHEN v.rec THEN 'Order ' || lpad((v.id % 100000)::text, 5, '0') END",
        "reviewed": "FALSE",
        "create_uid": "1",
        "write_uid": "1",
        "create_date": "v.recv",
        "write_date": "CASE WHEN v.rec THEN v.recv + interval '40 seconds' ELSE v.recv END",
    }


def _select(ctx, first_id: int, count: int, now_sql: str) -> str:
    weights = [a["weight"] for a in ctx["accounts"]]
    total = float(sum(weights))
    account_pairs = [(str(i + 1), w / total) for i, w in enumerate(weights)]
    type_pairs = [("'stk'", STK_SHARE), ("'c2b'", 1 - STK_SHARE)]
    status = (
        f"CASE WHEN t.ctype = 'stk' THEN {_case('t.rs', [(repr(s), p) for s, p in MIX['stk']])} "
        f"ELSE {_case('t.rs', [(repr(s), p) for s, p in MIX['c2b']])} END"
    )
    codes = {k: v for k, v in RESULT_CODES.items() if v[0] is not None}

    def by_status(index):
        whens = " ".join(f"WHEN {_lit(s)} THEN {_lit(v[index])}" for s, v in codes.items())
        return f"CASE u.status {whens} END"

    popular = _array(POPULAR_AMOUNTS, "int")
    return f"""
WITH s AS (
    SELECT {first_id} + g AS id, random() AS rt, random() AS rs, random() AS rr, random() AS ra,
           random() AS rm, random() AS rm2,
           ({now_sql}) - random() * interval '90 days' AS recv
      FROM generate_series(0, {count - 1}) AS g
), t AS (
    SELECT s.*, {_case("s.rt", type_pairs)} AS ctype, {_case("s.ra", account_pairs)} AS k,
           CASE WHEN s.rm < 0.5 THEN {popular}[1 + floor(s.rm2 * {len(POPULAR_AMOUNTS)})::int]
                ELSE 10 + floor(s.rm2 * s.rm2 * 4990)::int END AS amt
      FROM s
), u AS (
    SELECT t.*, {status} AS status FROM t
), v AS (
    SELECT u.*, {by_status(0)} AS code, {by_status(1)} AS descr, {by_status(2)} AS reason,
           (u.status = 'success' AND u.rr < CASE WHEN u.recv > ({now_sql}) - interval '1 hour' THEN 0.5
                WHEN u.ctype = 'stk' THEN {CLAIMED["stk"]} ELSE {CLAIMED["c2b"]} END) AS rec
      FROM u
)"""


def _insert_sql(ctx, columns, first_id, count, now_sql="now() AT TIME ZONE 'UTC'") -> str:
    exprs = _expressions(ctx)
    missing = [
        name
        for name, (not_null, has_default) in columns.items()
        if not_null and not has_default and name not in exprs
    ]
    if missing:
        raise RuntimeError(
            f"mpesa_callback has NOT NULL column(s) the bench loader does not know: {', '.join(missing)} "
            "(add them to tools/bench_load.py)"
        )
    for needed in ("id", "callback_type", "status", "amount", "received_date", "company_id", "config_id"):
        if needed not in columns:
            raise RuntimeError(f"mpesa_callback has no column {needed}: the bench loader needs updating")
    used = [name for name in exprs if name in columns]
    cols = ", ".join(f'"{name}"' for name in used)
    values = ",\n       ".join(exprs[name] for name in used)
    select = _select(ctx, first_id, count, now_sql)
    return f"{select}\nINSERT INTO mpesa_callback ({cols})\nSELECT {values}\n  FROM v"


def secondary_indexes(pg, db) -> list[tuple[str, str]]:
    """(name, definition) of the indexes that no constraint owns (the primary key stays)."""
    rows = pg.query(
        "SELECT c.relname || '|' || pg_get_indexdef(c.oid) FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid "
        "WHERE t.relname = 'mpesa_callback' AND NOT i.indisprimary "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) ORDER BY 1",
        db=db,
    )
    return [tuple(row.split("|", 1)) for row in rows]


def load(pg, db, ctx, rows: int, say=print) -> dict:
    """Insert `rows` rows; returns timings and the table's size."""
    columns = table_columns(pg, db)
    first_id = int(pg.query("SELECT coalesce(max(id), 0) + 1 FROM mpesa_callback", db=db)[0])
    indexes = secondary_indexes(pg, db)
    t0 = time.monotonic()
    drop = "".join(f'DROP INDEX IF EXISTS "{name}";\n' for name, _ in indexes)
    create = "".join(f"{definition};\n" for _, definition in indexes)
    script = (
        "SET session_replication_role = replica;\nSET maintenance_work_mem = '256MB';\n"
        f"BEGIN;\n{drop}{_insert_sql(ctx, columns, first_id, rows)};\n{create}COMMIT;\n"
        "SELECT setval(pg_get_serial_sequence('mpesa_callback', 'id'), "
        "(SELECT max(id) FROM mpesa_callback));\n"
    )
    psql_script(pg, db, script)
    t_insert = time.monotonic() - t0
    pg.psql("VACUUM ANALYZE mpesa_callback", db=db)
    t_total = time.monotonic() - t0
    size = pg.query(
        "SELECT count(*) || '|' || pg_total_relation_size('mpesa_callback') || '|' "
        "|| pg_relation_size('mpesa_callback') FROM mpesa_callback",
        db=db,
    )[0].split("|")
    say(
        f"loaded {rows:,} rows in {t_total:.1f} s (insert + {len(indexes)} indexes {t_insert:.1f} s); "
        f"mpesa_callback: {int(size[0]):,} rows, {int(size[2]) / 2**20:.0f} MiB heap, "
        f"{int(size[1]) / 2**20:.0f} MiB with indexes"
    )
    return {"seconds": t_total, "rows": int(size[0]), "bytes": int(size[1])}


def insert_pending_stk(pg, db, ctx, account, rows, tag: str) -> list[dict]:
    """Pending STK requests as a push just created them (request_date now), for callback benchmarks.
    Returns [{checkout_request_id, merchant_request_id, amount}]."""
    columns = table_columns(pg, db)
    values = []
    result = []
    for i in range(rows):
        amount = POPULAR_AMOUNTS[i % len(POPULAR_AMOUNTS)] + i % 7
        checkout = f"ws_CO_BENCH_{tag}_{i:06d}"
        merchant = f"bench-{tag}-{i:06d}"
        result.append({"checkout_request_id": checkout, "merchant_request_id": merchant, "amount": amount})
        values.append(
            {
                "callback_type": "stk",
                "status": "pending",
                "source": "pos",
                "name": checkout,
                "checkout_request_id": checkout,
                "merchant_request_id": merchant,
                "requested_amount": amount,
                "request_phone": f"2547{i:08d}",
                "phone_number": f"2547{i:08d}",
                "order_reference": f"Order {tag}-{i:05d}",
                "business_shortcode": account["shortcode"],
                "config_id": account["config_id"],
                "company_id": account["company_id"],
                "pos_config_id": account.get("pos_config_id"),
                "payment_method_id": account.get("payment_method_id"),
                "user_id": ctx["cashier_uid"],
                "currency_id": ctx["currency_id"],
                "is_claimed": False,
                "stk_abandoned": False,
                "callback_received": False,
                "create_uid": ctx["cashier_uid"],
                "write_uid": ctx["cashier_uid"],
            }
        )
    now_cols = ("request_date", "received_date", "create_date", "write_date")
    used = [c for c in values[0] if c in columns]
    stamps = [c for c in now_cols if c in columns]
    cols = ", ".join(f'"{c}"' for c in used + stamps)
    now = ", ".join("now() AT TIME ZONE 'UTC'" for _ in stamps)
    lines = ",\n".join(f"({', '.join(_lit(row[c]) for c in used)}, {now})" for row in values)
    psql_script(pg, db, f"INSERT INTO mpesa_callback ({cols}) VALUES\n{lines};")
    return result
