"""The demo database of `make run` and the simulator it runs against (stdlib only).

- DemoAccount / demo_accounts(): the demo M-Pesa accounts (data/mpesa_demo.xml), read with SQL;
- point_at(): before Odoo starts, point them at this run's simulator and Odoo (plain UPDATEs);
- OdooRpc: JSON-RPC as a user of the running Odoo (the web client's own routes);
- register_c2b(): each account's own "Register C2B Callback URLs" action, as admin;
- unregistered(): which demo C2B shortcodes the simulator has no URLs for (it forgets them when it
  restarts or on /__sim__/reset).
"""

import http.cookiejar
import json
import urllib.error
import urllib.request
from dataclasses import dataclass

import pg as pgmod

DEMO_XMLIDS = ("mpesa_config_demo", "mpesa_config_demo_till")  # data/mpesa_demo.xml
DEMO_LOGIN = DEMO_PASSWORD = "admin"  # noqa: S105 (Odoo's demo administrator, printed by make run)


@dataclass(frozen=True)
class DemoAccount:
    id: int
    xmlid: str
    name: str
    kind: str  # paybill / till
    business_shortcode: str
    till_number: str
    c2b_shortcode: str  # the shortcode customers pay (C2B)


def demo_accounts(pg, db) -> list[DemoAccount]:
    names = ", ".join(pgmod.quote_literal(x) for x in DEMO_XMLIDS)
    rows = pg.query(
        "SELECT c.id, d.name, c.name, c.account_type, coalesce(c.business_shortcode, ''), "
        "coalesce(c.till_number, ''), coalesce(c.c2b_shortcode, '') "
        "FROM mpesa_config c JOIN ir_model_data d ON d.res_id = c.id AND d.model = 'mpesa.config' "
        f"WHERE d.module = 'pos_mpesa' AND d.name IN ({names}) AND c.active ORDER BY c.id",
        db=db,
    )
    accounts = []
    for row in rows:
        cid, xmlid, name, kind, shortcode, till, c2b = row.split("|")
        # the account's _get_c2b_shortcode(): C2B shortcode, else the till, else the paybill
        c2b = c2b.strip() or (till.strip() if kind == "till" and till.strip() else shortcode.strip())
        accounts.append(DemoAccount(int(cid), xmlid, name, kind, shortcode, till, c2b))
    return accounts


def point_at(pg, db, sim_url, odoo_url) -> None:
    """The demo accounts talk to this run's simulator, and Odoo's callback URLs are this run's Odoo.

    A new simulator knows neither the old OAuth token nor the old C2B registrations: both are reset
    (the account's write() does the same when its URL changes; Odoo is not running, so SQL is safe).
    web.base.url is what the callback URLs are built from; an administrator's login sets it too,
    unless web.base.url.freeze is set (then it is left alone here as well)."""
    q = pgmod.quote_literal
    names = ", ".join(q(x) for x in DEMO_XMLIDS)
    columns = set(
        pg.query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'mpesa_config'", db=db
        )
    )
    resets = {"access_token": "NULL", "access_token_expires_at": "0", "c2b_registered": "false"}
    sets = ", ".join(
        [f"simulator_url = {q(sim_url)}"] + [f"{c} = {v}" for c, v in resets.items() if c in columns]
    )
    pg.psql(
        f"UPDATE mpesa_config SET {sets} "
        "WHERE id IN (SELECT res_id FROM ir_model_data WHERE module = 'pos_mpesa' "
        f"AND model = 'mpesa.config' AND name IN ({names}));"
        "INSERT INTO ir_config_parameter (key, value, create_uid, write_uid, create_date, write_date) "
        f"SELECT 'web.base.url', {q(odoo_url)}, 1, 1, now(), now() "
        "WHERE NOT EXISTS (SELECT 1 FROM ir_config_parameter WHERE key = 'web.base.url.freeze' "
        "                  AND coalesce(value, '') NOT IN ('', 'False', '0')) "
        "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, write_date = now()",
        db=db,
    )


class RpcError(Exception):
    pass


class OdooRpc:
    """The web client's JSON-RPC routes, with a session cookie."""

    def __init__(self, url, db, timeout=60):
        self.url, self.db, self.timeout = url.rstrip("/"), db, timeout
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def call(self, path, params):
        body = json.dumps({"jsonrpc": "2.0", "method": "call", "id": 1, "params": params}).encode()
        request = urllib.request.Request(  # noqa: S310 (http to loopback)
            self.url + path, data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                answer = json.loads(response.read().decode())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise RpcError(f"{path}: {exc}") from None
        if answer.get("error"):
            error = answer["error"]
            raise RpcError((error.get("data") or {}).get("message") or error.get("message") or str(error))
        return answer.get("result")

    def login(self, login=DEMO_LOGIN, password=DEMO_PASSWORD):
        try:
            info = self.call(
                "/web/session/authenticate", {"db": self.db, "login": login, "password": password}
            )
        except RpcError as exc:
            raise RpcError(f"cannot log in as {login}: {exc}") from None
        if not (info or {}).get("uid"):
            raise RpcError(f"cannot log in as {login}")
        return info

    def call_kw(self, model, method, args, kwargs=None):
        return self.call(
            f"/web/dataset/call_kw/{model}/{method}",
            {"model": model, "method": method, "args": args, "kwargs": kwargs or {}},
        )


def register_c2b(odoo_url, db, accounts) -> dict[str, str | None]:
    """Each account's own Register action (as admin): C2B shortcode -> None when done, else why not."""
    rpc = OdooRpc(odoo_url, db)
    try:
        rpc.login()
    except RpcError as exc:
        return {account.c2b_shortcode: str(exc) for account in accounts}
    results = {}
    for account in accounts:
        try:
            rpc.call_kw("mpesa.config", "action_register_c2b_urls", [[account.id]])
            results[account.c2b_shortcode] = None
        except RpcError as exc:
            results[account.c2b_shortcode] = str(exc)
    return results


def simulator_registrations(sim_url, timeout=5) -> dict[str, dict | None]:
    """C2B shortcode -> its registration on the simulator (None: no URLs registered)."""
    request = urllib.request.Request(  # noqa: S310 (http to loopback)
        sim_url.rstrip("/") + "/__sim__/accounts", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (loopback)
        data = json.loads(response.read().decode())
    return {row["shortcode"]: row.get("registration") for row in data.get("c2b", [])}


def unregistered(sim_url, accounts) -> list[DemoAccount]:
    """Demo accounts whose C2B shortcode has no URLs on the simulator (raises OSError when it is down)."""
    try:
        registrations = simulator_registrations(sim_url)
    except ValueError as exc:
        raise OSError(f"unreadable answer from the simulator: {exc}") from None
    return [a for a in accounts if a.c2b_shortcode in registrations and not registrations[a.c2b_shortcode]]
