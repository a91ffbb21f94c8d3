"""The wheel of `make dist`, installed as a shop installs it: part of `make test`.

A fresh virtualenv next to the runtime (it sees the runtime's packages through a .pth file, as a
shop's Odoo venv has them) gets the wheel with pip; Odoo then runs with an addons path that does not
hold this repository, installs pos_mpesa on a copy of the test template and runs one POS tour in
headless Chromium. The module must load from the wheel's site-packages, else the check fails.
"""

import subprocess
import tempfile
from pathlib import Path

import distribute as dist
from common import MODULE, REPO, free_port, say, which_browser
from devenv import dev_tool
from odoo_exec import db_prefix
from odoo_log import parse, tour_classes
from templates import ensure_template

TOUR = f"/{MODULE}:TestPosMpesaTours.test_stk_paid"


def _site_packages(python: Path) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return Path(
        subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True).stdout.strip()
    )


def fresh_venv(where: Path, runtime) -> Path:
    """A new venv whose python also sees the runtime's site-packages (Odoo's dependencies)."""
    subprocess.run([str(runtime.python), "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    (_site_packages(python) / "odoo_runtime.pth").write_text(f"{_site_packages(runtime.python)}\n")
    return python


def loaded_from(python: Path, runtime) -> str:
    """Where `odoo.addons.pos_mpesa` is imported from, as Odoo's own namespace packages resolve it."""
    code = f"import odoo.addons.{MODULE} as module; print(module.__file__)"
    result = subprocess.run(
        [str(python), "-c", code],
        cwd=str(runtime.src),
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(runtime.src), "PATH": "/usr/bin:/bin"},
    )
    return result.stdout.strip() or (result.stderr.strip().splitlines() or ["nowhere"])[-1]


def run(odoo, pid: int, echo) -> tuple[int, int, int, str]:
    """(passed, failed, skipped, note) of: the wheel installs, pos_mpesa loads from it, a tour passes."""
    db = f"{db_prefix()}wheel_{pid}"
    with tempfile.TemporaryDirectory(prefix=f"{MODULE}-wheel-") as tmp:
        tmp = Path(tmp)
        _zip, wheel = dist.build(tmp / "dist")
        python = fresh_venv(tmp / "venv", odoo.runtime)
        say(f"installing {wheel.name} into a fresh virtualenv")
        subprocess.run(
            [str(dev_tool("pip")), "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
            check=True,
        )
        site = _site_packages(python)
        where = loaded_from(python, odoo.runtime)
        if not str(where).startswith(str(site / "odoo" / "addons" / MODULE)):
            return 0, 1, 0, f"pos_mpesa does not load from the wheel (it loads from {where})"
        try:
            odoo.copy_db(ensure_template(odoo, demo=False), db)
            say(f"installing {MODULE} from the wheel on {db} and running {TOUR}")
            rc, log = odoo.run_logged(
                db,
                ["-i", MODULE, "--test-tags", TOUR, "--stop-after-init", "--max-cron-threads=0"],
                f"odoo-wheel-{pid}",
                echo=echo,
                http_port=free_port(None),
                python=python,
                with_repo=False,
            )
        finally:
            odoo.drop_db(db)
    result = parse(log.read_text(errors="replace").splitlines(), MODULE, tour_classes(REPO / "tests"))
    tours = result.suites["tours"]
    if result.result is None or rc != 0:
        return 0, 1, 0, f"the install from the wheel failed (exit {rc}); log: {log}"
    if not which_browser():
        return 0, 0, 1, "installed from the wheel; no chromium on PATH for its tour"
    if tours.passed + tours.failed == 0:
        return 0, 1, 0, f"the tour did not run; log: {log}"
    return int(tours.failed == 0), int(tours.failed > 0), 0, f"{MODULE} loaded from {site}"
