"""python -m daraja_simulator: run the local Daraja until Ctrl-C, printing URLs and credentials."""

import argparse
import contextlib
import ipaddress
import logging
import signal
import sys
import threading

from .accounts import CONSUMER_KEY, CONSUMER_SECRET, SANDBOX_PASSKEY
from .server import SimulatorServer
from .state import (
    BAD_CREDENTIALS_MODES,
    MSISDN_MODES,
    QR_RESPONSE_CODES,
    QR_TILL_BILL_REFS,
    QUERY_PENDING_MODES,
)


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("a port is 0..65535 (0: any free port)")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m daraja_simulator", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=_port, default=8765)
    p.add_argument("--callback-delay", type=float, default=3.0, help="seconds before an automatic outcome")
    p.add_argument(
        "--prompt-timeout", type=float, default=45.0, help="seconds before an open prompt ends as 1037"
    )
    p.add_argument("--odoo-url", help="Odoo URL, linked from the phone page")
    p.add_argument(
        "--production", action="store_true", help="production C2B rules: https, keywords, register once"
    )
    p.add_argument(
        "--expires-in-string", action="store_true", help='OAuth expires_in as "3599" (older Daraja)'
    )
    p.add_argument("--bad-credentials", choices=BAD_CREDENTIALS_MODES, default="empty")
    p.add_argument(
        "--invalidate-old-tokens", action="store_true", help="a new token invalidates the previous"
    )
    p.add_argument("--query-pending", choices=QUERY_PENDING_MODES, default="alternate")
    p.add_argument(
        "--msisdn-mode", choices=MSISDN_MODES, default="hashed", help="MSISDN in C2B notifications"
    )
    p.add_argument("--c2b-version", choices=("v1", "v2"), default="v2", help="C2B product of the Daraja app")
    p.add_argument(
        "--qr-response-code", choices=QR_RESPONSE_CODES, default="00",
        help='Dynamic QR success code: "00" (2026 sandbox) or "AG" (AG_<date>_<hex>, Safaricom\'s page)',
    )  # fmt: skip
    p.add_argument(
        "--qr-till-bill-ref", choices=QR_TILL_BILL_REFS, default="ref_no",
        help="BillRefNumber of a scanned Buy Goods QR: its RefNo, or empty (unverified on Daraja)",
    )  # fmt: skip
    p.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return p


def _banner(sim: SimulatorServer, odoo_url: str | None) -> str:
    base = sim.base_url
    lines = [
        "Daraja simulator running",
        f"  Base URL (M-Pesa account, environment 'simulator'): {base}",
        f"  Phone page:  {base}/",
        f"  Control API: {base}/__sim__/transactions",
        f"  Consumer key: {CONSUMER_KEY}   Consumer secret: {CONSUMER_SECRET}",
        f"  Passkey (both accounts): {SANDBOX_PASSKEY}",
        "  Paybill: shortcode 174379 (C2B shortcode 600984)",
        "  Till:    store number 174380, till number 174381 (C2B shortcode 174381)",
        "  Outcome by the phone's last two digits: 00 paid, 01 cancelled, 02 insufficient, 03 timeout,",
        "  04 wrong PIN, ...; any other number waits for the phone page.",
    ]
    if odoo_url:
        lines.append(f"  Odoo: {odoo_url}")
    lines.append("Ctrl-C to stop.")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(message)s")
    try:
        sim = SimulatorServer(
            args.host,
            args.port,
            args.callback_delay,
            odoo_url=args.odoo_url,
            production=args.production,
            prompt_timeout=args.prompt_timeout,
            expires_in_as_string=args.expires_in_string,
            bad_credentials_mode=args.bad_credentials,
            invalidate_old_tokens=args.invalidate_old_tokens,
            query_pending_mode=args.query_pending,
            c2b_msisdn_mode=args.msisdn_mode,
            c2b_api_version=args.c2b_version,
            qr_response_code=args.qr_response_code,
            qr_till_bill_ref=args.qr_till_bill_ref,
        ).start()
    except (OSError, OverflowError, ValueError) as exc:
        sys.stderr.write(f"daraja_simulator: cannot start: {exc}\n")
        return 1
    # A host name (not an address) is not checked: only literal non-loopback addresses are warned about.
    with contextlib.suppress(ValueError):
        if not ipaddress.ip_address(args.host).is_loopback:
            sys.stderr.write("WARNING: not bound to loopback; anyone who can reach this port can use it.\n")
    # SIGTERM stops it cleanly from now on: whoever read the banner may send it at once
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # The banner is the command's output (URLs and credentials for the person who started it), not a log.
    sys.stdout.write(_banner(sim, args.odoo_url) + "\n")
    sys.stdout.flush()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
