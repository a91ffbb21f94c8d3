"""`make screenshots`: the README's pictures of the cashier's M-Pesa flows, taken from the real POS.

Same machinery as `make run` (runtime, PostgreSQL, the demo template with pos_mpesa installed, the
Daraja simulator) on a database of its own, dropped at the end. Headless Chromium is driven through
the Chrome DevTools Protocol (websocket-client, from the Odoo virtualenv) like a cashier would: log
in, open the register, sell, pay by M-Pesa. The customer's phone is the simulator's control API.
For the pictures the demo shop sells three untaxed products in KES, on Nairobi time. PNGs (1280x800)
go to docs/screenshots/. Everything started is stopped and the database dropped, even on error.

Environment: SHOTS_ODOO_PORT (8570), SHOTS_SIM_PORT (8571), SHOTS_KEEP_DB=1 (keep the database, and
reuse a kept one next time: quicker when working on this script; pictures may then show older orders).
"""

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import pg as pgmod
import run as make_run
import runtime as rt
from common import REPO, fail, free_port, main_guard, port_free, say, which_browser
from odoo_exec import Odoo, db_prefix, logs_dir
from templates import ensure_template

OUT = REPO / "docs" / "screenshots"
WIDTH, HEIGHT = 1280, 800
C2B_SHORTCODE = "600984"  # the demo account's C2B shortcode (data/mpesa_demo.xml)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--mute-audio",
    "--lang=en-US",
]
# Whole-shilling prices without taxes: M-Pesa refuses cents.
PRODUCTS = {"Unga Maize Flour 2kg": 230, "Kimbo Cooking Fat 1kg": 420, "Sugar 1kg": 180}


class StepError(Exception):
    """A step of the flow did not happen in the browser (missing selector, JavaScript error)."""


# --------------------------------------------------------------------------- the browser


class Browser:
    """Headless Chromium with one page, driven over the DevTools Protocol."""

    def __init__(self, binary: str, log_path):
        import websocket  # websocket-client, from the Odoo virtualenv (see main)

        self.profile = tempfile.mkdtemp(prefix="pos_mpesa-chromium-")
        port = free_port()
        self.log = open(log_path, "w")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [
                binary,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={self.profile}",
                f"--remote-debugging-port={port}",
                f"--window-size={WIDTH},{HEIGHT}",
                "about:blank",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.ws, self.next_id = None, 0
        deadline = time.time() + 30
        while True:
            if self.proc.poll() is not None:
                fail(f"Chromium stopped at start (exit {self.proc.returncode}); log: {log_path}")
            try:
                listing = f"http://127.0.0.1:{port}/json/list"
                with urllib.request.urlopen(listing, timeout=2) as answer:
                    pages = [t for t in json.load(answer) if t.get("type") == "page"]
                if pages:
                    break
            except (urllib.error.URLError, OSError, ValueError):
                pass
            if time.time() > deadline:
                fail(f"Chromium's DevTools did not answer on port {port} within 30 s; log: {log_path}")
            time.sleep(0.3)
        # suppress_origin: Chromium refuses DevTools websockets that carry an Origin it does not allow
        self.ws = websocket.create_connection(
            pages[0]["webSocketDebuggerUrl"], timeout=60, suppress_origin=True
        )
        self.send("Page.enable")
        self.send("Emulation.setTimezoneOverride", {"timezoneId": "Africa/Nairobi"})
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
        )

    def close(self):
        if self.ws:
            with contextlib.suppress(Exception):  # the browser may already be gone
                self.ws.close()
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # its renderers too: it leads its own group
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def send(self, method: str, params: dict | None = None) -> dict:
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params or {}}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") != my_id:
                continue  # an event, or a late answer
            if "error" in message:
                raise StepError(f"DevTools {method}: {message['error'].get('message')}")
            return message.get("result", {})

    def js(self, expression: str):
        """Evaluate in the page (promises awaited); the JSON-able result, or StepError on an exception."""
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True, "userGesture": True},
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise StepError(f"JavaScript error: {text}")
        return result.get("result", {}).get("value")

    def goto(self, url: str, ready_selector: str, timeout=90):
        self.send("Page.navigate", {"url": url})
        time.sleep(0.5)
        self.wait(ready_selector, timeout=timeout, what=f"{url} loaded")

    # Elements are found by a CSS selector and, optionally, a text they contain; only visible ones count.
    FIND = """((sel, text) => [...document.querySelectorAll(sel)].find(el =>
        el.getClientRects().length && (!text || el.textContent.includes(text))))"""

    def wait(self, selector: str, text: str = "", timeout=30, what: str = "", gone=False):
        """Wait until an element matches (or, with gone=True, none does); StepError after timeout."""
        probe = f"!!{self.FIND}({json.dumps(selector)}, {json.dumps(text)})"
        deadline = time.time() + timeout
        while True:
            if bool(self.js(probe)) != gone:
                return
            if time.time() > deadline:
                label = f"'{selector}'" + (f" containing '{text}'" if text else "")
                state = "still there" if gone else "not found"
                raise StepError(f"{what or 'step'}: {label} {state} after {timeout} s")
            time.sleep(0.25)

    def exists(self, selector: str, text: str = "") -> bool:
        return bool(self.js(f"!!{self.FIND}({json.dumps(selector)}, {json.dumps(text)})"))

    def click(self, selector: str, text: str = "", timeout=30, what: str = ""):
        self.wait(selector, text, timeout, what or f"click {selector}")
        self.js(
            f"(() => {{ const el = {self.FIND}({json.dumps(selector)}, {json.dumps(text)});"
            " el.scrollIntoView({block: 'center'}); el.click(); })()"
        )

    def type(self, selector: str, value: str, timeout=30):
        """Replace an input's text by typing, as a person would (input events included)."""
        self.wait(selector, timeout=timeout, what=f"type into {selector}")
        self.js(
            f"(() => {{ const el = {self.FIND}({json.dumps(selector)}, ''); el.focus(); el.select(); }})()"
        )
        self.send(
            "Input.dispatchKeyEvent",
            {"type": "keyDown", "key": "Backspace", "code": "Backspace", "windowsVirtualKeyCode": 8},
        )
        self.send(
            "Input.dispatchKeyEvent",
            {"type": "keyUp", "key": "Backspace", "code": "Backspace", "windowsVirtualKeyCode": 8},
        )
        self.send("Input.insertText", {"text": value})

    def rpc(self, route: str, params: dict):
        """JSON-RPC from the logged-in page (the admin's session)."""
        body = json.dumps({"jsonrpc": "2.0", "method": "call", "id": 1, "params": params})
        answer = self.js(
            f"fetch({json.dumps(route)}, {{method: 'POST', headers: {{'Content-Type': 'application/json'}},"
            f" body: {json.dumps(body)}}}).then(r => r.json())"
        )
        if not isinstance(answer, dict) or answer.get("error"):
            error = (answer or {}).get("error", {})
            raise StepError(f"{route}: {error.get('data', {}).get('message') or error or answer}")
        return answer["result"]

    def call(self, model: str, method: str, args, kwargs=None):
        params = {"model": model, "method": method, "args": args, "kwargs": kwargs or {}}
        return self.rpc(f"/web/dataset/call_kw/{model}/{method}", params)

    def screenshot(self, path):
        time.sleep(0.6)  # let CSS transitions (dialogs fading in) finish
        data = self.send("Page.captureScreenshot", {"format": "png", "fromSurface": True})["data"]
        path.write_bytes(base64.b64decode(data))


# --------------------------------------------------------------------------- the simulator


def sim_post(sim_url: str, path: str, payload: dict) -> dict:
    request = urllib.request.Request(  # noqa: S310 (loopback)
        f"{sim_url}/__sim__/{path}",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as answer:  # noqa: S310 (loopback)
            return json.load(answer)
    except urllib.error.HTTPError as error:
        raise StepError(
            f"simulator {path}: HTTP {error.code} {error.read().decode(errors='replace')}"
        ) from None


def sim_get(sim_url: str, path: str) -> dict:
    with urllib.request.urlopen(f"{sim_url}/__sim__/{path}", timeout=15) as answer:  # noqa: S310 (loopback)
        return json.load(answer)


def pending_stk(sim_url: str, timeout=20) -> str:
    """The checkout request id of the STK push the simulated phone is showing."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for txn in sim_get(sim_url, "transactions").get("transactions", []):
            if txn["kind"] == "stk" and txn["status"] == "pending" and txn["interactive"]:
                return txn["checkout_request_id"]
        time.sleep(0.5)
    raise StepError(
        f"no pending STK push on the simulator after {timeout} s: {sim_get(sim_url, 'transactions')}"
    )


def wait_c2b_delivered(sim_url: str, receipts, timeout=30):
    """The simulator posted these C2B payments to Odoo's confirmation URL and Odoo accepted them."""
    deadline = time.time() + timeout
    while True:
        rows = {t.get("trans_id"): t for t in sim_get(sim_url, "transactions")["transactions"]}
        states = {receipt: rows.get(receipt, {}).get("status") for receipt in receipts}
        if all(state == "confirmed" for state in states.values()):
            return
        failed = {
            r: rows[r].get("detail") for r, state in states.items() if state not in ("pending", "confirmed")
        }
        if failed or time.time() > deadline:
            raise StepError(f"C2B payments not delivered to Odoo: {failed or states}")
        time.sleep(0.5)


# --------------------------------------------------------------------------- the cashier's flows


class Shots:
    def __init__(self, browser: Browser, odoo_url: str, sim_url: str):
        self.b, self.odoo_url, self.sim_url = browser, odoo_url, sim_url
        self.taken = []

    def shot(self, name: str, keep_toasts=False):
        if not keep_toasts:  # a notification left over from the previous step would mislead
            self.b.js(
                "document.querySelectorAll('.o_notification .o_notification_close').forEach(b => b.click())"
            )
            self.b.wait(".o_notification", gone=True, timeout=10, what="notifications closed")
        path = OUT / f"{name}.png"
        self.b.screenshot(path)
        self.taken.append(path)
        say(f"  {path.relative_to(REPO)}")

    def login(self):
        self.b.goto(f"{self.odoo_url}/web/login", "form.oe_login_form")
        self.b.type("input[name=login]", "admin")
        self.b.type("input[name=password]", "admin")
        self.b.click("form.oe_login_form button[type=submit]")
        self.b.wait(".o_main_navbar, .o_home_menu, .o_action_manager", timeout=60, what="logged in")

    def prepare_data(self, mpesa_config_id: int, category_id: int):
        """Products with whole-shilling prices in a category the demo shop shows; C2B URLs registered."""
        for name, price in PRODUCTS.items():
            values = {
                "name": name,
                "list_price": price,
                "available_in_pos": True,
                "pos_categ_ids": [(6, 0, [category_id])],
                "taxes_id": [(6, 0, [])],
                "type": "consu",
            }
            existing = self.b.call("product.template", "search", [[["name", "=", name]]])
            if existing:  # a reused database (SHOTS_KEEP_DB=1)
                self.b.call("product.template", "write", [existing, values])
            else:
                self.b.call("product.template", "create", [values])
        self.b.call("mpesa.config", "action_register_c2b_urls", [[mpesa_config_id]])

    def open_pos(self, config_id: str):
        self.b.goto(f"{self.odoo_url}/pos/ui?config_id={config_id}", ".pos", timeout=120)
        login, opening, products = (
            ".screen-login .open-register-btn",
            ".modal .modal-footer .btn-primary",
            ".product-screen",
        )
        self._wait_any([login, products], 120)
        if self.b.exists(login):
            self.b.click(login)
        deadline = time.time() + 30
        while time.time() < deadline:  # a new session asks for the opening cash count first
            if self.b.js("window.posmodel?.session?.state") == "opened" and not self.b.exists(".modal"):
                self.b.wait(products, what="product screen")
                return
            if self.b.exists(opening, "Open Register"):
                self.b.click(opening, "Open Register")
            time.sleep(0.5)
        raise StepError(
            "the register did not open within 30 s (session state: "
            f"{self.b.js('window.posmodel?.session?.state')})"
        )

    def _wait_any(self, selectors, timeout) -> int:
        deadline = time.time() + timeout
        while time.time() < deadline:
            for index, selector in enumerate(selectors):
                if self.b.exists(selector):
                    return index
            time.sleep(0.25)
        raise StepError(f"none of {selectors} appeared after {timeout} s")

    def sell(self, product: str):
        """A new order with one product, on the payment screen with an M-Pesa line."""
        self.b.wait(".product-screen", what="product screen")
        self.b.click("article.product .product-name", product, what=f"product {product}")
        self.b.wait(".order-container .orderline", product, what="order line")
        self.b.click(".product-screen .pay-order-button")
        self.b.wait(".payment-screen", what="payment screen")
        self.b.click(".paymentmethods .button.paymentmethod .payment-name", "M-Pesa")
        self.b.wait(".mpesa-line-status .mpesa-stk-toggle", what="M-Pesa payment line")

    def stk_on(self):
        self.b.click(".mpesa-line-status .mpesa-stk-toggle:not(:checked)")
        self.b.wait(".mpesa-line-status .mpesa-send", "Send STK Push", what="STK mode")

    def validate(self):
        self.b.click(".payment-screen button.validation-button.next")

    def next_order(self):
        self.b.click(".receipt-screen .button.next", what="New Order")
        self.b.wait(".product-screen", what="back to the product screen")

    def close_dialog(self):
        self.b.click(".modal .modal-footer .btn-primary")
        self.b.wait(".modal", gone=True, timeout=10, what="dialog closed")

    def stk_paid(self):
        self.sell("Unga Maize Flour 2kg")
        self.shot("01-payment-line-c2b-default")
        self.stk_on()
        self.shot("02-payment-line-stk-toggle-on")
        self.validate()
        self.b.wait(".modal .modal-title", "M-Pesa STK Push", what="phone dialog")
        self.b.type(".modal .mpesa-phone-input", "0712 345 678")
        self.shot("03-stk-phone-dialog")
        self.b.type(".modal .mpesa-phone-input", "0812 345 678")
        self.b.click(".modal .mpesa-send-stk")
        self.b.wait(".modal .mpesa-phone-error", what="bad number explained")
        self.shot("04-stk-phone-dialog-invalid-number")
        # any suffix outside the simulator's table waits for the customer's PIN
        self.b.type(".modal .mpesa-phone-input", "0712 345 678")
        self.b.click(".modal .mpesa-send-stk")
        self.b.wait(".mpesa-line-status .mpesa-waiting .mpesa-countdown", " s", what="customer asked")
        time.sleep(2)  # the countdown has visibly started
        self.shot("05-stk-waiting-for-customer-countdown")
        sim_post(self.sim_url, f"stk/{pending_stk(self.sim_url)}/pin", {"pin": "1234"})
        self.b.wait(".o_notification", "Payment successful!", timeout=60, what="success notified")
        self.shot("06-stk-payment-successful", keep_toasts=True)
        self.b.wait(".receipt-screen .pos-receipt .mpesa-receipt-number", timeout=30, what="receipt number")
        self.shot("07-receipt-with-mpesa-receipt-number")
        self.next_order()

    def stk_cancelled(self):
        self.sell("Sugar 1kg")
        self.stk_on()
        self.validate()
        self.b.type(".modal .mpesa-phone-input", "0712 345 601")  # simulator: the customer cancels
        self.b.click(".modal .mpesa-send-stk")
        self.b.wait(".modal .modal-title", "M-Pesa payment not received", timeout=60, what="failure dialog")
        self.b.wait(".modal .modal-body", "Payment cancelled", what="failure reason")
        self.shot("08-stk-payment-cancelled")
        self.close_dialog()
        self.b.wait(".mpesa-line-status .mpesa-send", "Resend STK Push", what="resend offered")
        self.shot("09-stk-line-after-failure-resend")

    def c2b_two_found(self):
        """Same order (KES 180): the customer paid by Paybill; someone else paid the same amount."""
        self.b.click(".mpesa-line-status .mpesa-stk-toggle:checked")
        self.b.wait(".mpesa-line-status .mpesa-send", "Find Payment", what="C2B mode")
        amount = PRODUCTS["Sugar 1kg"]
        payments = [
            sim_post(
                self.sim_url,
                "c2b/pay",
                {"shortcode": C2B_SHORTCODE, "amount": amount, "msisdn": msisdn, "msisdn_mode": "masked"},
            )
            for msisdn in ("254712345678", "254722000111")
        ]
        receipts = [payment["trans_id"] for payment in payments]
        wait_c2b_delivered(self.sim_url, receipts)
        self.validate()
        self.b.wait(".modal .modal-title", "Select M-Pesa Payment", timeout=30, what="C2B popup")
        for receipt in receipts:
            self.b.wait(f".modal .mpesa-payment-row[data-receipt='{receipt}']", timeout=20, what="listed")
        self.b.click(f".modal .mpesa-payment-row[data-receipt='{receipts[0]}']")
        self.b.wait(".modal .mpesa-payment-row.selected", what="payment selected")
        self.shot("10-c2b-select-payment-two-found")
        self.b.click(".modal .mpesa-confirm-payment:not([disabled])")
        self.b.wait(
            ".receipt-screen .pos-receipt .mpesa-receipt-number", receipts[0], timeout=30, what="C2B receipt"
        )
        self.next_order()

    def c2b_none_found(self):
        self.sell("Kimbo Cooking Fat 1kg")
        self.validate()
        self.b.wait(".modal .modal-title", "No M-Pesa Payment Found", timeout=30, what="none found")
        self.shot("11-c2b-no-mpesa-payment-found")
        self.b.click(".modal .modal-footer .btn", "Validate Anyway")
        self.b.wait(".receipt-screen", timeout=30, what="validated anyway")

    def back_office(self):
        self.b.goto(
            f"{self.odoo_url}/odoo/action-pos_mpesa.action_mpesa_callback",
            ".o_list_view .o_data_row",
            timeout=60,
        )
        self.shot("12-back-office-mpesa-callbacks")


# --------------------------------------------------------------------------- orchestration


def _reexec_with_websocket(runtime):
    """The CDP client (websocket-client) lives in the Odoo virtualenv: run this script with its Python."""
    try:
        import websocket  # noqa: F401
    except ImportError:
        if os.environ.get("POS_MPESA_SHOTS_REEXEC"):
            fail(f"websocket-client is missing from {runtime.venv}: run `make runtime` again")
        env = dict(os.environ, POS_MPESA_SHOTS_REEXEC="1")
        os.execve(str(runtime.python), [str(runtime.python), __file__, *sys.argv[1:]], env)  # noqa: S606


def _prepare_database(odoo, db, odoo_url, sim_url):
    if os.environ.get("SHOTS_KEEP_DB") == "1" and odoo.pg.exists(db):
        say(f"SHOTS_KEEP_DB=1: reusing {db}")
        return
    template = ensure_template(odoo, demo=True)
    say(f"creating {db}: Point of Sale with demo data + pos_mpesa (about a minute)")
    odoo.copy_db(template, db)
    make_run._install(odoo, db, "-i")
    make_run._point_demo_at_simulator(odoo, db, sim_url)
    _kenyan_shop(odoo, db)
    # callback URLs are built on web.base.url: the simulator must call this Odoo back
    odoo.pg.psql(
        f"UPDATE ir_config_parameter SET value = {pgmod.quote_literal(odoo_url)} WHERE key = 'web.base.url'",
        db=db,
    )


def _kenyan_shop(odoo, db) -> None:
    """The pictures show a Kenyan till: the demo shop's company sells in KES (the demo data is in USD).
    Plain SQL on this throw-away database (Odoo is not running; the ORM refuses to change the currency
    of a company with journal items)."""
    odoo.pg.psql(
        "DO $$ DECLARE kes int; company int; BEGIN "
        "SELECT id INTO kes FROM res_currency WHERE name = 'KES'; "
        "SELECT c.company_id INTO company FROM pos_config c JOIN ir_model_data d ON d.res_id = c.id "
        "  AND d.module = 'point_of_sale' AND d.name = 'pos_config_main'; "
        "UPDATE res_currency SET active = true WHERE id = kes; "
        "UPDATE res_company SET currency_id = kes WHERE id = company; "
        "UPDATE pos_config SET currency_id = kes WHERE company_id = company; "
        "UPDATE product_pricelist SET currency_id = kes WHERE company_id = company OR company_id IS NULL; "
        "UPDATE res_partner SET tz = 'Africa/Nairobi' WHERE id IN (SELECT partner_id FROM res_users); "
        "END $$",
        db=db,
    )


def _res_id(odoo, db, module, name) -> int | None:
    rows = odoo.pg.query(
        "SELECT res_id FROM ir_model_data "
        f"WHERE module = {pgmod.quote_literal(module)} AND name = {pgmod.quote_literal(name)}",
        db=db,
    )
    return int(rows[0]) if rows else None


def _start_servers(odoo, db, odoo_port, sim_port, procs):
    odoo_url, sim_url = f"http://127.0.0.1:{odoo_port}", f"http://127.0.0.1:{sim_port}"
    sim_log = open(logs_dir() / "screenshots-simulator.log", "w")  # noqa: SIM115 (child keeps it)
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daraja_simulator",
            "--port",
            str(sim_port),
            "--callback-delay",
            "3",
            "--odoo-url",
            odoo_url,
        ],
        cwd=REPO,
        stdout=sim_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    sim_log.close()
    procs.append(("the simulator", sim))
    server = subprocess.Popen(
        odoo.command(db, "--max-cron-threads=0", http_port=odoo_port),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        env=odoo.pg.env(),
        cwd=str(odoo.addons_dir),
        start_new_session=True,
    )
    procs.append(("Odoo", server))
    log_file = open(logs_dir() / "screenshots-odoo.log", "w")  # noqa: SIM115 (the copying thread closes it)
    threading.Thread(target=make_run._echo_warnings, args=(server.stdout, log_file), daemon=True).start()
    make_run._wait_http(f"{odoo_url}/web/login", procs)
    make_run._wait_http(f"{sim_url}/", procs, timeout=30)
    return odoo_url, sim_url


def main():
    signal.signal(signal.SIGTERM, make_run._interrupt)
    odoo_port = int(os.environ.get("SHOTS_ODOO_PORT") or 8570)
    sim_port = int(os.environ.get("SHOTS_SIM_PORT") or 8571)
    for port, var in ((odoo_port, "SHOTS_ODOO_PORT"), (sim_port, "SHOTS_SIM_PORT")):
        if not port_free(port):
            fail(f"port {port} is already in use; choose another: make screenshots {var}={port + 2}")
    chromium = which_browser()
    if not chromium:
        fail("no chromium/google-chrome on PATH (apt-get install chromium)")
    runtime = rt.ensure()
    _reexec_with_websocket(runtime)

    db = f"{db_prefix()}shots"
    pg = pgmod.connect()
    odoo, procs, browser = None, [], None
    try:
        odoo = Odoo(runtime, pg)
        _prepare_database(odoo, db, f"http://127.0.0.1:{odoo_port}", f"http://127.0.0.1:{sim_port}")
        odoo_url, sim_url = _start_servers(odoo, db, odoo_port, sim_port, procs)
        config_id = make_run._pos_config_id(odoo, db)
        account_id = _res_id(odoo, db, "pos_mpesa", "mpesa_config_demo")
        category_id = _res_id(odoo, db, "point_of_sale", "pos_category_miscellaneous")
        if not (config_id and account_id and category_id):
            fail(f"{db} lacks the demo shop, its Misc category or the demo M-Pesa account")
        OUT.mkdir(parents=True, exist_ok=True)
        browser = Browser(chromium, logs_dir() / "screenshots-chromium.log")
        shots = Shots(browser, odoo_url, sim_url)
        say(f"taking the screenshots into {OUT.relative_to(REPO)}/")
        try:
            shots.login()
            shots.prepare_data(account_id, category_id)
            shots.open_pos(config_id)
            shots.stk_paid()
            shots.stk_cancelled()
            shots.c2b_two_found()
            shots.c2b_none_found()
            shots.back_office()
        except StepError as error:
            failed = logs_dir() / "screenshots-failure.png"
            try:
                browser.screenshot(failed)
                where = f"; the page at that moment: {failed}"
            except Exception:  # the browser itself may be the problem
                where = ""
            fail(f"{error}{where} (Odoo log: {logs_dir() / 'screenshots-odoo.log'})")
        say(f"{len(shots.taken)} screenshots written to {OUT.relative_to(REPO)}/")
    except KeyboardInterrupt:
        print()
        raise
    finally:
        if browser:
            browser.close()
        make_run._stop(procs)
        if odoo:
            if os.environ.get("SHOTS_KEEP_DB") == "1":
                say(f"SHOTS_KEEP_DB=1: keeping the database {db}")
            else:
                odoo.drop_db(db)
            odoo.close()
        pg.close()
    return 0


if __name__ == "__main__":
    main_guard(main)
