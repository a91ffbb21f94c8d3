"""`make screenshots`: the README's pictures of the till's M-Pesa flows and of the accountant's
screens, taken from the real POS and back office.

Same machinery as `make run` (runtime, PostgreSQL, the demo template with pos_mpesa installed, the
Daraja simulator) on a database of its own, dropped at the end. Headless Chromium is driven through
the Chrome DevTools Protocol (websocket-client, from the Odoo virtualenv) like a cashier would: log
in, open the register, sell, pay by M-Pesa. The customer's phone is the simulator's control API.
For the pictures the demo shop sells three untaxed products in KES, on Nairobi time; its paybill gets
an initiator (receipt lookups and reversals). In one POS session, every flow from an empty new order:

- 01-11: STK push (phone dialog, waiting, paid, receipt, cancelled), C2B (two found, none found);
- 13-16: the C2B popup's search by receipt code and by phone digits, several payments ticked for one
  order, a receipt whose confirmation was lost (simulator: delivery "lost") looked up at M-Pesa;
- 17-19: Pay to Account and Show QR waiting on the line, the QR on Odoo's customer display (a second
  tab of the same browser);
- 20-22: a refund reversed on M-Pesa (before and after), the closing popup's M-Pesa figures (Discard);

then the back office, last: 12 and 23-24 M-Pesa Callbacks as list, pivot and graph; 25-26 the
unclaimed payments and the settle wizard (the paybill's match window is cut to one minute once the
till is done, so that the payment that came after its order was validated anyway is unclaimed);
27-28 the Daily M-Pesa Statement list and its printed form (the report's HTML render, the template
wkhtmltopdf prints). PNGs (1280x800; the back office 1600 wide, the printed statement 1280 wide at
its whole height) go to docs/screenshots/. Everything started is stopped and the database dropped,
even on error.

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
import urllib.parse
import urllib.request

import pg as pgmod
import run as make_run
import runtime as rt
from common import REPO, fail, free_port, main_guard, port_free, say, which_browser
from odoo_exec import Odoo, db_prefix, logs_dir
from templates import ensure_template

OUT = REPO / "docs" / "screenshots"
WIDTH, HEIGHT = 1280, 800
BACK_OFFICE_WIDTH = 1600
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
    # the customer display is a second tab: the tab behind keeps rendering and running its timers
    "--disable-renderer-backgrounding",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--lang=en-US",
]
# Whole-shilling prices without taxes: M-Pesa refuses cents.
PRODUCTS = {"Unga Maize Flour 2kg": 230, "Kimbo Cooking Fat 1kg": 420, "Sugar 1kg": 180}


class StepError(Exception):
    """A step of the flow did not happen in the browser (missing selector, JavaScript error)."""


# --------------------------------------------------------------------------- the browser


class Page:
    """One browser tab, driven over its DevTools websocket."""

    def __init__(self, ws_url: str, target_id: str = ""):
        import websocket  # websocket-client, from the Odoo virtualenv (see main)

        # suppress_origin: Chromium refuses DevTools websockets that carry an Origin it does not allow
        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.target_id, self.next_id = target_id, 0
        self.send("Page.enable")
        self.send("Emulation.setTimezoneOverride", {"timezoneId": "Africa/Nairobi"})
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
        )

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

    def wait_js(self, expression: str, what: str, timeout=30):
        """Wait until a JavaScript expression is true in the page; StepError after timeout."""
        deadline = time.time() + timeout
        while not self.js(f"!!({expression})"):
            if time.time() > deadline:
                raise StepError(f"{what}: not the case after {timeout} s")
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

    def resize(self, width: int = WIDTH, height: int = HEIGHT):
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def screenshot(self, path):
        self.send("Page.bringToFront")  # another tab may be in front (the customer display)
        time.sleep(0.6)  # let CSS transitions (dialogs fading in) finish
        data = self.send("Page.captureScreenshot", {"format": "png", "fromSurface": True})["data"]
        path.write_bytes(base64.b64decode(data))


class Browser(Page):
    """Headless Chromium; the Page methods act on its first tab, new_tab() opens others."""

    def __init__(self, binary: str, log_path):
        self.profile = tempfile.mkdtemp(prefix="pos_mpesa-chromium-")
        self.port = port = free_port()
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
        self.ws = None
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
        super().__init__(pages[0]["webSocketDebuggerUrl"], pages[0]["id"])

    def new_tab(self, url: str) -> Page:
        """Another tab of the same browser (same cookies, same origin: BroadcastChannel reaches it)."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/json/new?{urllib.parse.quote(url, safe=':/?=&')}", method="PUT"
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (loopback)
            target = json.load(answer)
        return Page(target["webSocketDebuggerUrl"], target["id"])

    def close_tab(self, tab: Page):
        with contextlib.suppress(Exception):
            tab.ws.close()
        with contextlib.suppress(Exception):
            urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}/json/close/{tab.target_id}", timeout=10
            ).close()

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


def wait_sim_status(sim_url: str, receipt: str, wanted: str, timeout=30):
    """The simulator's C2B payment reached this status (e.g. "lost": paid, its confirmation never sent)."""
    deadline = time.time() + timeout
    while True:
        rows = {t.get("trans_id"): t for t in sim_get(sim_url, "transactions")["transactions"]}
        status = rows.get(receipt, {}).get("status")
        if status == wanted:
            return
        if time.time() > deadline:
            raise StepError(f"simulator payment {receipt} is {status!r}, not {wanted!r}, after {timeout} s")
        time.sleep(0.5)


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
        self.config_id = None
        self.sale_to_refund = None  # the uuid of an order paid by C2B (c2b_two_found)
        self.left_over = None  # a payment of Sugar's price no order took (c2b_two_found)
        self.late_payment = None  # paid after its order was validated anyway (c2b_none_found)

    def shot(self, name: str, keep_toasts=False, page: Page | None = None):
        page = page or self.b
        if not keep_toasts:  # a notification left over from the previous step would mislead
            page.js(
                "document.querySelectorAll('.o_notification .o_notification_close').forEach(b => b.click())"
            )
            page.wait(".o_notification", gone=True, timeout=10, what="notifications closed")
        path = OUT / f"{name}.png"
        page.screenshot(path)
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
        # an initiator: receipt lookups (Transaction Status) and refunds (Reversal); the simulator
        # checks that a SecurityCredential is there, not what it says
        initiator = {"initiator_name": "shotsapi", "security_credential": "UGFzdGVkRnJvbVBvcnRhbA=="}
        self.b.call("mpesa.config", "write", [[mpesa_config_id], initiator])
        self.b.call("mpesa.config", "action_register_c2b_urls", [[mpesa_config_id]])

    def open_pos(self, config_id: str):
        self.config_id = config_id
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
                # a reopened till shows the order it was on: every flow starts from an empty new order
                if self.b.js("posmodel.getOrder()?.lines.length !== 0"):
                    self.b.js("posmodel.addNewOrder() && undefined")
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
        self.b.wait_js("posmodel.getOrder()?.lines.length === 0", "an empty new order")
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
        self.sale_to_refund, self.left_over = self.b.js("posmodel.getOrder().uuid"), receipts[1]
        self.next_order()

    def c2b_none_found(self):
        self.sell("Kimbo Cooking Fat 1kg")
        self.validate()
        self.b.wait(".modal .modal-title", "No M-Pesa Payment Found", timeout=30, what="none found")
        self.shot("11-c2b-no-mpesa-payment-found")
        self.b.click(".modal .modal-footer .btn", "Validate Anyway")
        self.b.wait(".receipt-screen", timeout=30, what="validated anyway")
        # the customer's payment arrives after all: no order takes it (unclaimed, settled at the end)
        self.late_payment = self.pay_c2b(PRODUCTS["Kimbo Cooking Fat 1kg"], "254733444555")
        wait_c2b_delivered(self.sim_url, [self.late_payment])
        self.next_order()

    # ------------------------------------------------------------------ the till's newer flows

    def pay_c2b(self, amount: int, msisdn: str, bill_ref: str = "", delivery: str = "once") -> str:
        """The customer pays the paybill from the M-Pesa menu; its receipt (TransID)."""
        payment = sim_post(
            self.sim_url,
            "c2b/pay",
            {
                "shortcode": C2B_SHORTCODE,
                "amount": amount,
                "msisdn": msisdn,
                "msisdn_mode": "masked",
                "bill_ref_number": bill_ref,
                "delivery": delivery,
            },
        )
        return payment["trans_id"]

    def row(self, receipt: str, extra: str = "") -> str:
        return f".modal .mpesa-payment-row[data-receipt='{receipt}']{extra}"

    def popup_lists_only(self, receipts, what: str):
        wanted = json.dumps(sorted(receipts))
        self.b.wait_js(
            "JSON.stringify([...document.querySelectorAll('.modal .mpesa-payment-row')]"
            f".map(row => row.dataset.receipt).sort()) === {json.dumps(wanted)}",
            what,
        )

    def tick(self, receipt: str):
        self.b.click(self.row(receipt), what=f"tick {receipt}")
        self.b.wait(self.row(receipt, ".selected"), what=f"{receipt} ticked")

    def confirm_payments(self, receipt: str):
        self.b.click(".modal .mpesa-confirm-payment:not([disabled])", what="Confirm")
        self.b.wait(".receipt-screen .pos-receipt .mpesa-receipt-number", receipt, timeout=30, what="receipt")

    def open_c2b_popup(self, product: str, *listed: str):
        self.sell(product)
        self.validate()
        self.b.wait(".modal .modal-title", "Select M-Pesa Payment", timeout=30, what="C2B popup")
        for receipt in listed:
            self.b.wait(self.row(receipt), timeout=20, what=f"{receipt} listed")

    def till_search(self):
        """The search box: a receipt code from the customer's SMS, then the last digits of a phone."""
        amount = PRODUCTS["Sugar 1kg"]
        by_receipt = self.pay_c2b(amount, "254711222333")
        by_phone = self.pay_c2b(amount, "254700555666")
        wait_c2b_delivered(self.sim_url, [by_receipt, by_phone])
        self.open_c2b_popup("Sugar 1kg", by_receipt, by_phone, self.left_over)
        self.b.type(".modal .mpesa-search-input", by_receipt)
        self.popup_lists_only([by_receipt], "the search by receipt code")
        self.b.wait(".modal .mpesa-search-hint", by_receipt, what="receipt code hint")
        self.shot("13-c2b-search-by-receipt-code")
        self.b.type(".modal .mpesa-search-input", "666")
        self.popup_lists_only([by_phone], "the search by phone digits")
        self.b.wait(".modal .mpesa-search-hint", "666", what="phone digits hint")
        self.shot("14-c2b-search-by-phone-digits")
        self.tick(by_phone)
        self.confirm_payments(by_phone)
        self.next_order()

    def several_payments(self):
        """The customer paid in two goes: 150 + 80 for an order of 230, both ticked."""
        first, second = self.pay_c2b(150, "254711000101"), self.pay_c2b(80, "254711000202")
        wait_c2b_delivered(self.sim_url, [first, second])
        self.open_c2b_popup("Unga Maize Flour 2kg", first, second)
        self.b.wait(".modal .mpesa-all-amounts:checked", what="All amounts on by itself")
        self.tick(first)
        self.b.wait(".modal .mpesa-selected-total", "150", what="running total")
        self.tick(second)
        self.b.wait(".modal .mpesa-selected-total.text-success", what="the total is the amount")
        self.shot("15-c2b-several-payments-one-order")
        self.confirm_payments(first)
        self.b.wait(".receipt-screen .pos-receipt .mpesa-receipt-number", second, what="second receipt")
        self.next_order()

    def receipt_lookup(self):
        """A receipt whose confirmation never reached Odoo: M-Pesa is asked (Transaction Status)."""
        amount = PRODUCTS["Sugar 1kg"]
        lost = self.pay_c2b(amount, "254722987654", delivery="lost")
        # M-Pesa has it, Odoo never will: only then does its receipt mean anything at the till
        wait_sim_status(self.sim_url, lost, "lost")
        self.open_c2b_popup("Sugar 1kg", self.left_over)
        self.b.type(".modal .mpesa-search-input", lost)
        self.b.wait(self.row(lost, ":has(.mpesa-recovered)"), timeout=60, what="found by M-Pesa")
        self.b.wait(".modal .mpesa-lookup", gone=True, what="lookup finished")
        self.popup_lists_only([lost], "only the payment M-Pesa found")
        self.tick(lost)
        self.shot("16-c2b-receipt-looked-up-at-mpesa-recovered")
        self.confirm_payments(lost)
        self.next_order()

    def pay_to_account(self):
        """The line shows the paybill and a short account code; the payment naming it is taken."""
        self.sell("Unga Maize Flour 2kg")
        self.b.click(".mpesa-line-status .mpesa-pay-account", what="Pay to Account")
        self.b.wait(".mpesa-line-status .mpesa-pay-to .mpesa-account-code", what="account code")
        self.b.wait(".mpesa-line-status .mpesa-code-wait", what="waiting for the payment")
        self.shot("17-pay-to-account-code-waiting")
        code = self.b.js(
            "document.querySelector('.mpesa-line-status .mpesa-account-code').textContent.trim()"
        )
        paid = self.pay_c2b(PRODUCTS["Unga Maize Flour 2kg"], "254712000333", bill_ref=code)
        self.b.wait(".receipt-screen .pos-receipt .mpesa-receipt-number", paid, timeout=60, what="validated")
        self.next_order()

    def show_qr(self):
        """A Dynamic QR on the line and on Odoo's customer display (a second tab of the browser)."""
        display = self.b.new_tab(f"{self.odoo_url}/pos_customer_display/{self.config_id}/screenshots")
        try:
            display.wait(".o_customer_display", timeout=60, what="customer display loaded")
            self.b.send("Page.bringToFront")  # the cashier's screen
            self.sell("Kimbo Cooking Fat 1kg")
            self.b.click(".mpesa-line-status .mpesa-show-qr", what="Show QR")
            self.b.wait(
                ".mpesa-line-status img.mpesa-qr-image[src^='data:image/png;base64,']", what="QR shown"
            )
            self.b.wait(".mpesa-line-status .mpesa-code-wait", what="waiting for the payment")
            self.shot("18-show-qr-waiting")
            display.send("Page.bringToFront")  # the customer's screen
            display.wait(".modal .pos-customer_payment_qr_code", timeout=30, what="QR on the display")
            display.wait(".o_customer_display .orderline", "Kimbo", what="order on the display")
            self.shot("19-customer-display-mpesa-qr", page=display)
        finally:
            self.b.close_tab(display)
        self.b.send("Page.bringToFront")
        code = self.b.js(
            "document.querySelector('.mpesa-line-status .mpesa-account-code').textContent.trim()"
        )
        paid = sim_post(self.sim_url, f"qr/{code}/pay", {"msisdn": "254712000444", "msisdn_mode": "masked"})
        receipt = paid["payment"]["trans_id"]
        self.b.wait(".receipt-screen .pos-receipt .mpesa-receipt-number", receipt, timeout=60, what="paid")
        self.next_order()

    def refund_by_reversal(self):
        """Refund the C2B sale of c2b_two_found: Reverse on M-Pesa, then the line says reversed."""
        # the cashier sees the reversed line before validating (the demo till validates by itself)
        self.b.js("posmodel.config.auto_validate_terminal_payment = false")
        self.b.click(".pos-leftheader .orders-button", what="Orders")
        self.b.wait(".ticket-screen", what="orders screen")
        self.b.click(".pos-search-bar .filter", what="filter")
        self.b.click(".pos-search-bar .filter ul li", "Paid", what="Paid orders")
        sale = f".ticket-screen .order-row[orderuuid='{self.sale_to_refund}']"
        self.b.click(sale, what="the C2B sale")
        self.b.wait(f"{sale}.active", what="sale selected")
        self.b.click(".ticket-screen .btn-primary.pay-order-button", "Refund", what="Refund")
        self.b.wait(".payment-screen", what="refund's payment screen")
        self.b.click(".paymentmethods .button.paymentmethod .payment-name", "M-Pesa")
        self.b.wait(
            ".mpesa-line-status:not(:has(.mpesa-stk-toggle)) .mpesa-reverse",
            "Reverse on M-Pesa",
            what="reversal offered",
        )
        self.shot("20-refund-reverse-on-mpesa")
        self.b.click(".mpesa-line-status .mpesa-reverse")
        self.b.wait(
            ".mpesa-line-status[data-status='done'] .mpesa-reversal-done", timeout=60, what="reversed"
        )
        self.shot("21-refund-reversed-on-mpesa")
        self.b.click(".payment-screen .validation-button.highlight", what="validate the refund")
        self.b.wait(".receipt-screen .pos-receipt .mpesa-reversal-receipt", timeout=30, what="refund receipt")
        self.b.js("posmodel.config.auto_validate_terminal_payment = true")
        self.next_order()

    def closing(self):
        """Close Register: the session's M-Pesa figures next to Odoo's (then Discard)."""
        self.b.click(".pos-rightheader button:has(.fa-bars)", what="menu")
        self.b.click("span.dropdown-item", "Close Register", what="Close Register")
        self.b.wait(".close-pos-popup .mpesa-closing", timeout=30, what="closing popup")
        self.b.wait(".close-pos-popup .mpesa-differences", what="M-Pesa differences")
        self.b.js(
            "document.querySelector('.close-pos-popup .mpesa-closing').scrollIntoView({block: 'center'})"
        )
        self.shot("22-pos-closing-mpesa-figures")
        self.b.click(".close-pos-popup button", "Discard", what="Discard")
        self.b.wait(".close-pos-popup", gone=True, what="closing popup closed")

    # ------------------------------------------------------------------ the accountant's day

    def action(self, xmlid: str, view_type: str = "") -> str:
        return f"{self.odoo_url}/odoo/action-{xmlid}" + (f"?view_type={view_type}" if view_type else "")

    def back_office(self, account_id: int):
        self.b.resize(width=BACK_OFFICE_WIDTH)  # the lists' columns and buttons, none cut
        try:
            self.accountant(account_id)
        finally:
            self.b.resize()

    def accountant(self, account_id: int):
        callbacks = "pos_mpesa.action_mpesa_callback"
        self.b.goto(self.action(callbacks), ".o_list_view .o_data_row", timeout=60)
        self.shot("12-back-office-mpesa-callbacks")
        self.b.goto(self.action(callbacks, "pivot"), ".o_pivot_view .o_pivot table", timeout=60)
        self.shot("23-back-office-callbacks-pivot")
        self.b.goto(self.action(callbacks, "graph"), ".o_graph_view canvas", timeout=60)
        self.shot("24-back-office-callbacks-graph")
        self.unclaimed(account_id)
        self.daily_statement(account_id)

    def unclaimed(self, account_id: int):
        # The tills are done: a one-minute match window makes today's leftover payments unclaimed
        # without waiting the demo account's ten minutes.
        window = self.b.call("mpesa.config", "read", [[account_id], ["match_window"]])[0]["match_window"]
        self.b.call("mpesa.config", "write", [[account_id], {"match_window": 1}])
        try:
            self.settle_unclaimed()
        finally:  # as it was (a kept database is used again)
            self.b.call("mpesa.config", "write", [[account_id], {"match_window": window}])

    def settle_unclaimed(self):
        late = self.late_payment
        domain = [["is_unclaimed", "=", True], ["mpesa_receipt_number", "=", late]]
        deadline = time.time() + 180
        while not self.b.call("mpesa.callback", "search_count", [domain]):
            if time.time() > deadline:
                raise StepError(f"{late} not unclaimed 180 s after its match window was set to 1 minute")
            time.sleep(1)
        self.b.goto(self.action("pos_mpesa.action_mpesa_unclaimed"), ".o_list_view .o_data_row", timeout=60)
        self.b.wait(".o_list_view .o_data_row td", late, what="the late payment listed")
        self.shot("25-back-office-unclaimed-payments")
        self.b.js(
            "[...document.querySelectorAll('.o_list_view .o_data_row')]"
            f".find(tr => tr.textContent.includes({json.dumps(late)}))"
            ".querySelector('button[name=action_settle_unclaimed]').click()"
        )
        self.b.wait(".modal .o_form_view", what="settle wizard")
        self.b.wait(".modal .modal-title", "Settle an Unclaimed Payment", what="settle wizard title")
        line_input = ".modal div[name=pos_payment_id] input"
        self.b.click(line_input, what="order's line")
        # an option, not the "Loading…" placeholder nor "Search More…"
        self.b.click(
            ".o-autocomplete--dropdown-menu li.o-autocomplete--dropdown-item:not(.o_m2o_dropdown_option)"
            " a:not(.o_loading)",
            what="the line validated without a payment",
        )
        self.b.wait_js(f"document.querySelector({json.dumps(line_input)}).value", "line chosen")
        self.b.type(".modal div[name=reason] input", "Paid after the order was validated anyway")
        self.shot("26-settle-unclaimed-payment-wizard")
        self.b.click(".modal .modal-footer button[name=action_settle]", what="Settle")
        self.b.wait(".modal .o_form_view", gone=True, what="settled")

    def daily_statement(self, account_id: int):
        statement = "pos_mpesa.action_mpesa_daily_statement"
        # The paybill registered for Pull Transactions, and today checked against M-Pesa's own record
        # (a manager's Check Against M-Pesa): the statement's M-Pesa Check says what it found.
        self.b.call("mpesa.config", "write", [[account_id], {"pull_nominated_number": "254708374149"}])
        self.b.call("mpesa.config", "action_register_pull", [[account_id]])
        today = self.b.call(
            "mpesa.daily.statement",
            "search",
            [[["config_id", "=", account_id]]],
            {"order": "day desc", "limit": 1},
        )
        if not today:
            raise StepError("the paybill has no daily statement")
        self.b.call("mpesa.daily.statement", "action_check_mpesa", [today])
        self.b.goto(self.action(statement), ".o_list_view .o_data_row", timeout=60)
        self.shot("27-back-office-daily-statement")
        rows = self.b.call(
            "mpesa.daily.statement", "search_read", [[]], {"fields": ["day"], "order": "day desc"}
        )
        if not rows:
            raise StepError("the daily statement is empty")
        ids = ",".join(str(row["id"]) for row in rows if row["day"] == rows[0]["day"])
        # the printed statement as HTML (Odoo renders the same template through wkhtmltopdf for the PDF)
        self.b.goto(f"{self.odoo_url}/report/html/pos_mpesa.report_mpesa_daily_statement/{ids}", ".page h2")
        # the whole statement of the day, not only its first screen (at most 2,000 pixels)
        height = self.b.js("document.documentElement.scrollHeight")
        self.b.resize(height=max(HEIGHT, min(int(height) + 40, 2000)))
        self.shot("28-daily-statement-printed")


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
            shots.till_search()
            shots.several_payments()
            shots.receipt_lookup()
            shots.pay_to_account()
            shots.show_qr()
            shots.refund_by_reversal()
            shots.closing()
            shots.back_office(account_id)
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
