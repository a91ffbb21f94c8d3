"""`make doctor`: one screen on what this machine has for pos_mpesa and how to get what is missing.
It installs and starts nothing."""

import subprocess
import sys

import apt
import pg
import runtime as rt
from common import REPO, home, is_ci, main_guard, which_browser
from devenv import dev_venv, dev_venv_ready, node_tool, node_tools_ready


def _out(cmd, timeout=20) -> tuple[int, str]:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, str(exc)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def main():
    rows = []  # (ok: bool|None, what, detail, hint)

    def row(ok, what, detail, hint=""):
        rows.append((ok, what, detail, hint))

    row(True, "Python", f"{sys.version.split()[0]} at {sys.executable}")
    runtime, why = rt.find()
    if runtime:
        rc, out = _out([str(runtime.python), str(runtime.odoo_bin), "--version"])
        version = out.splitlines()[0] if rc == 0 and out else f"does not start: {out[-200:]}"
        row(rc == 0, "Odoo runtime", f"{version}, source {runtime.src}", "" if rc == 0 else "make runtime")
    else:
        row(
            False,
            "Odoo runtime",
            why,
            "make runtime ODOO_SRC=/path/to/odoo-19.0  (or plain `make runtime` "
            "to download the official 19.0 source archive)",
        )
    ok, text = pg.describe()
    row(ok, "PostgreSQL", text, "" if ok else "apt-get install postgresql, or set PGHOST/PGPORT/PGUSER")
    browser = which_browser()
    if browser:
        rc, out = _out([browser, "--version"])
        row(True, "Chromium", f"{out.splitlines()[0] if out else '?'} ({browser})")
    else:
        row(False, "Chromium", "not on PATH: the POS tours are skipped", "apt-get install chromium")
    rc, out = _out(["wkhtmltopdf", "--version"])
    if rc == 0:
        row(True, "wkhtmltopdf", out.splitlines()[0] if out else "?")
    else:
        row(
            False,
            "wkhtmltopdf",
            "not on PATH: reports print as HTML, the PDF test is skipped",
            "apt-get install wkhtmltopdf",
        )
    row(
        dev_venv_ready(),
        "dev venv",
        str(dev_venv()),
        "" if dev_venv_ready() else "make dev-venv (make test creates it too)",
    )
    rc, out = _out([sys.executable, "-m", "daraja_simulator", "--help"])
    row(
        rc == 0,
        "simulator",
        "python -m daraja_simulator --help works"
        if rc == 0
        else f"python -m daraja_simulator --help fails: {out.splitlines()[-1] if out else rc}",
    )
    if node_tools_ready():
        row(True, "prettier/eslint", str(node_tool("prettier").parent))
    else:
        npm = "npm found" if _out(["npm", "--version"])[0] == 0 else "npm missing (apt-get install npm)"
        row(None, "prettier/eslint", f"not installed ({npm})", "make lint installs them")
    missing = apt.missing(apt.ODOO_BUILD) if apt.have_dpkg() else []
    if missing:
        row(
            None,
            "build packages",
            "missing: " + " ".join(missing),
            f"needed only to build the Odoo venv: sudo apt-get install {' '.join(missing)}",
        )
    print(f"pos_mpesa doctor  (cache: {home()})")
    for ok, what, detail, hint in rows:
        mark = {True: "ok  ", False: "MISS", None: "--  "}[ok]
        print(f"  {mark} {what:<16} {detail}")
        if hint:
            print(f"       {'':<16} -> {hint}")
    if runtime is None or not browser:
        print(
            "  make test runs the pure suite only"
            if runtime is None
            else "  make test runs everything but the POS tours and the hoot unit tests (skipped)"
        )
    if runtime is None and is_ci():
        print("  CI=true: .ci/run fails without the Odoo runtime (POS_MPESA_ALLOW_NO_ODOO=1 accepts it)")
    return 0


if __name__ == "__main__":
    main_guard(main)
