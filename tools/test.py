"""`make test`: every suite this machine can run, one summary line at the end.

1. pure Python (pytest on pyproject's testpaths, in the dev venv) - always;
2. Odoo Python tests and 3. POS tours (headless Chromium): one odoo-bin run installing pos_mpesa
   without demo data on a copy of a cached template, `--test-tags /pos_mpesa`;
4. hoot unit tests (static/tests/unit, headless Chromium): Odoo's own runner, WebSuite.test_unit_desktop,
   scoped to @pos_mpesa, on the same database (a second odoo-bin run: post-install tests of a module
   that is not being installed only run without -i);
5. install check with demo data (pos_mpesa on a copy of the demo template; tests/test_demo_figures.py,
   tag pos_mpesa_demo, then checks the demo's M-Pesa figures against its rows), and the wheel of
   `make dist` installed in a fresh virtualenv, pos_mpesa installed from it, one tour run (wheel_install.py);
6. POS tours against a prefork server (`tools/run prefork-tours --quick`: 2 STK and 2 C2B tours in
   headless Chromium, Odoo with --workers and the gevent port; its tours count as skipped without
   Chromium), 7. reliability (quick) and 8. bench (quick): `tools/run reliability --quick` /
   `tools/run bench --quick`, each when its script exists; their last `N passed, N failed` line is counted.
2-8 run when the Odoo runtime exists (or ODOO_SRC=... is given: then it is built first).
The last line is `N passed, N failed` (+ `, N skipped`); the exit status is 1 on any failure.
VERBOSE=1 echoes the whole Odoo log; logs are kept in .local/logs/.
"""

import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pg as pgmod
import runtime as rt
import wheel_install
from common import MODULE, REPO, ToolError, free_port, main_guard, say, which_browser
from devenv import dev_tool, ensure_dev_venv
from odoo_exec import Odoo, db_prefix
from odoo_log import RECORD, parse, records, tour_classes
from templates import ensure_template


@dataclass
class Suite:
    name: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    ran: bool = True
    note: str = ""


def run_pure() -> Suite:
    suite = Suite("pure Python (pytest)")
    ensure_dev_venv()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        say("running the pure-Python suite (pytest)")
        cmd = [
            str(dev_tool("pytest")),
            f"--junitxml={report}",
            "-p",
            "no:cacheprovider",
            "-p",
            "pytest_repo_root",
        ]
        # pytest_repo_root (tools/) keeps pytest from importing the module's root __init__.py (it needs Odoo).
        tools = str(Path(__file__).resolve().parent)
        env = dict(
            os.environ, PYTHONPATH=os.pathsep.join(filter(None, [tools, os.environ.get("PYTHONPATH")]))
        )
        rc = subprocess.run(cmd, cwd=REPO, env=env, check=False).returncode
        if rc == 5:
            suite.note = "no tests collected (pytest exit 5)"
            return suite
        if report.exists():
            root = ET.parse(report).getroot()
            for node in [root] if root.tag == "testsuite" else root.iter("testsuite"):
                tests, failures, errors, skipped = (
                    int(node.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")
                )
                suite.failed += failures + errors
                suite.skipped += skipped
                suite.passed += tests - failures - errors - skipped
        if rc not in (0, 5) and suite.failed == 0:
            suite.failed = 1
            suite.note = f"pytest exit {rc} without a failing test (usage or internal error)"
    return suite


def _echo_filter(verbose: bool, loggers=()):
    """Print the interesting part of a live Odoo log: tests starting, failures, errors
    (and the [HOOT] lines of the given loggers)."""
    state = {"show": False}

    def echo(line: str):
        if verbose:
            print(line, flush=True)
            return
        match = RECORD.match(line)
        if not match:
            if state["show"]:
                print("    " + line, flush=True)
            return
        state["show"] = match["level"] in ("ERROR", "CRITICAL")
        msg = match["msg"]
        if state["show"] or match["logger"] == "odoo.tests.result":
            print(f"  {match['level']} {match['logger']}: {msg}", flush=True)
        elif match["logger"].startswith(f"odoo.addons.{MODULE}.") and msg.startswith(
            ("Starting ", "skipped ")
        ):
            print(f"  {msg.removesuffix(' ...')}", flush=True)
        elif match["logger"].startswith(loggers or "\0") and msg.startswith(
            ("[HOOT] Test ", "[HOOT] Passed", "[HOOT] Failed", "skipped ")
        ):
            print(f"  {msg.strip()}", flush=True)

    return echo


HOOT_NAME = "hoot unit tests (Chromium)"
HOOT_TAGS = f"/web:WebSuite.test_unit_desktop[@{MODULE}]"  # Odoo's unit-test runner, our tests only
HOOT_DONE = re.compile(
    r"\[HOOT\] (?:Passed (?P<passed>\d+) tests|Failed (?P<failed>\d+) tests \((?P<also_passed>\d+) passed)"
)
HOOT_TEST = re.compile(r"^WebSuite\.test_unit_desktop\b")
STATIC_HOOT_TEST = re.compile(r"^\s*test(?:\.\w+)*\(", re.MULTILINE)


def static_hoot_count() -> int:
    """test(...) calls in static/tests/unit: what a skipped hoot run leaves untested."""
    return sum(
        len(STATIC_HOOT_TEST.findall(path.read_text(errors="replace")))
        for path in sorted((REPO / "static" / "tests" / "unit").rglob("*.test.js"))
    )


def parse_hoot(lines) -> Suite:
    """Counts of one WebSuite.test_unit_desktop run: hoot's own closing line, or why it never came."""
    suite = Suite(HOOT_NAME)
    done = runner_failed = runner_skipped = None
    for rec in records(lines):
        found = HOOT_DONE.search(rec.message)
        if found:
            done = found
        if rec.logger.startswith("odoo.addons.web."):
            if (
                rec.level == "INFO"
                and rec.message.startswith("skipped ")
                and "test_unit_desktop" in rec.message
            ):
                runner_skipped = rec.message
            failure = rec.level in ("ERROR", "CRITICAL") and re.match(r"^(FAIL|ERROR): ", rec.message)
            if failure and "test_unit_desktop" in rec.message:
                runner_failed = rec.message
    if done:
        if done["passed"] is not None:
            suite.passed = int(done["passed"])
        else:
            suite.failed, suite.passed = int(done["failed"]), int(done["also_passed"])
    if runner_skipped and not done:
        suite.skipped = static_hoot_count() or 1
        suite.note = runner_skipped.split(" : ", 1)[-1]
    elif not done:
        suite.failed = max(suite.failed, 1)
        suite.note = "the hoot runner never reported (see the log)"
    elif suite.passed + suite.failed == 0:
        suite.failed = 1
        suite.note = f"no hoot test matched @{MODULE} (static/tests/unit in web.assets_unit_tests?)"
    elif runner_failed and suite.failed == 0:
        suite.failed = 1  # every test passed but the runner failed (timeout, error outside a test)
        suite.note = runner_failed[:200]
    return suite


def run_hoot(odoo, db, verbose: bool) -> Suite:
    """Odoo's own hoot runner in headless Chromium, on a database where pos_mpesa is installed."""
    if not which_browser():
        return Suite(
            HOOT_NAME,
            skipped=static_hoot_count() or 1,
            note="no chromium/google-chrome on PATH (apt-get install chromium)",
        )
    say(f"running the hoot unit tests (static/tests/unit) in headless Chromium on {db}")
    port = free_port()
    rc, log = odoo.run_logged(
        db,
        ["--test-tags", HOOT_TAGS, "--stop-after-init", "--max-cron-threads=0"],
        f"odoo-hoot-{os.getpid()}",
        echo=_echo_filter(verbose, loggers=("odoo.addons.web.tests.test_js.",)),
        http_port=port,
    )
    suite = parse_hoot(log.read_text(errors="replace").splitlines())
    if rc != 0 and suite.failed == 0:
        suite.failed = 1
        suite.note = f"odoo-bin exit {rc}; log: {log}"
    if suite.failed:
        say(f"hoot log: {log}")
    return suite


def run_odoo_suites(odoo, verbose: bool) -> list[Suite]:
    python_suite, tour_suite = Suite("Odoo Python tests"), Suite("POS tours (Chromium)")
    hoot_suite = Suite(HOOT_NAME, ran=False, note="pos_mpesa did not install")
    demo_check = Suite("install with demo data")
    if not which_browser():
        tour_suite.note = "no chromium/google-chrome on PATH: Odoo skips the tours (apt-get install chromium)"
    pid = os.getpid()
    test_db, demo_db = f"{db_prefix()}test_{pid}", f"{db_prefix()}democheck_{pid}"
    try:
        template = ensure_template(odoo, demo=False)
        odoo.copy_db(template, test_db)
        say(f"installing {MODULE} without demo data on {test_db} and running its tests")
        port = free_port(int(os.environ.get("POS_MPESA_TEST_PORT", 0)) or None)
        rc, log = odoo.run_logged(
            test_db,
            ["-i", MODULE, "--test-tags", f"/{MODULE}", "--stop-after-init", "--max-cron-threads=0"],
            f"odoo-tests-{pid}",
            echo=_echo_filter(verbose),
            http_port=port,
        )
        result = parse(log.read_text(errors="replace").splitlines(), MODULE, tour_classes(REPO / "tests"))
        for suite, counts in ((python_suite, result.suites["python"]), (tour_suite, result.suites["tours"])):
            suite.passed, suite.failed, suite.skipped = counts.passed, counts.failed, counts.skipped
        if result.result is None:
            python_suite.failed += 1
            python_suite.note = f"Odoo stopped before reporting tests (exit {rc}): install failed? log: {log}"
        else:
            counted = python_suite.failed + tour_suite.failed
            reported = result.result[0] + result.result[1]
            if reported > counted:
                python_suite.failed += reported - counted
            if reported == 0 and (rc != 0 or result.stray_errors):
                python_suite.failed += 1
                python_suite.note = f"errors logged outside the tests (exit {rc}); log: {log}"
            if result.result[2] == 0:
                python_suite.note = python_suite.note or "Odoo found no tests in tests/"
        if python_suite.failed or tour_suite.failed:
            say(f"Odoo test log: {log}")
        if result.result is not None:
            hoot_suite = run_hoot(odoo, test_db, verbose)

        demo_template = ensure_template(odoo, demo=True)
        odoo.copy_db(demo_template, demo_db)
        say(f"installing {MODULE} with demo data on {demo_db} and checking the demo's M-Pesa figures")
        rc, log = odoo.run_logged(
            demo_db,
            ["-i", MODULE, "--test-tags", DEMO_TAGS, "--stop-after-init", "--max-cron-threads=0"],
            f"odoo-demo-install-{pid}",
            echo=_echo_filter(verbose),
        )
        demo_check = check_demo_install(rc, log)
    except ToolError as exc:
        say(f"ERROR: {exc}")
        python_suite.failed += 1
        python_suite.note = str(exc).splitlines()[0]
    finally:
        for db in (test_db, demo_db):
            try:
                odoo.drop_db(db)
            except ToolError as exc:
                say(f"could not drop {db}: {exc}")
    return [python_suite, tour_suite, hoot_suite, demo_check, run_wheel_install(odoo, verbose)]


# tests/test_demo_figures.py: the demo's figures recomputed from its rows (tagged out of the standard run)
DEMO_TAGS = f"pos_mpesa_demo/{MODULE}"


def check_demo_install(rc: int, log: Path) -> Suite:
    """The demo install (one check) and its figure tests (one each): all must have run and passed."""
    suite = Suite("install with demo data")
    run = parse(log.read_text(errors="replace").splitlines(), MODULE, set())
    tests = run.suites["python"]
    if run.result is None:
        suite.failed = 1
        suite.note = f"Odoo stopped before reporting tests (exit {rc}): install failed? log: {log}"
        return suite
    reported_failures = run.result[0] + run.result[1]
    # a failing test makes odoo-bin exit 1: the install itself went through unless something else failed
    installed = not run.stray_errors and (rc == 0 or reported_failures > 0)
    suite.passed = tests.passed + (1 if installed else 0)
    suite.failed = max(tests.failed, reported_failures) + (0 if installed else 1)
    if run.result[2] == 0:
        suite.failed += 1
        suite.note = f"no demo figure test ran ({DEMO_TAGS}); log: {log}"
    elif not installed:
        suite.note = f"exit {rc}, {len(run.stray_errors)} error(s) logged outside the tests; log: {log}"
    elif suite.failed:
        suite.note = f"the demo's figures disagree with its rows (tests/test_demo_figures.py); log: {log}"
    return suite


def run_wheel_install(odoo, verbose: bool) -> Suite:
    """`make dist`'s wheel in a fresh virtualenv: pos_mpesa installed from it, one tour (wheel_install.py)."""
    suite = Suite("install from the wheel (make dist)")
    try:
        suite.passed, suite.failed, suite.skipped, suite.note = wheel_install.run(
            odoo, os.getpid(), _echo_filter(verbose)
        )
    except (ToolError, subprocess.CalledProcessError) as exc:
        suite.failed, suite.note = 1, str(exc).splitlines()[0]
    return suite


def skipped_odoo_suites(reason: str) -> list[Suite]:
    names = (
        "Odoo Python tests",
        "POS tours (Chromium)",
        HOOT_NAME,
        "install with demo data",
        "install from the wheel (make dist)",
    )
    return [Suite(name, ran=False, note=reason) for name in names]


SUMMARY_LINE = re.compile(r"^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$")
# suites of their own scripts (real servers over HTTP), quick variants; after the Odoo suites
SCRIPT_SUITES = (
    ("POS tours, prefork server (Chromium)", "prefork_tours"),
    ("reliability (quick)", "reliability"),
    ("bench (quick)", "bench"),
)


def run_script_suite(name: str, script: str) -> Suite:
    """`tools/run <script> --quick`, its output echoed; its last `N passed, N failed` line is the result."""
    if not (REPO / "tools" / f"{script}.py").exists():
        return Suite(name, ran=False, note=f"tools/{script}.py does not exist yet")
    say(f"running {name}: tools/run {script} --quick")
    proc = subprocess.Popen(
        [str(REPO / "tools" / "run"), script, "--quick"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    last = None
    try:
        for line in proc.stdout:
            sys.stdout.write("    " + line)
            sys.stdout.flush()
            last = SUMMARY_LINE.match(line.strip()) or last
        rc = proc.wait()
    except BaseException:
        proc.terminate()
        proc.wait()
        raise
    suite = Suite(name)
    if last:
        suite.passed, suite.failed = int(last[1]), int(last[2])
        suite.skipped = int(last[3] or 0)
    if last is None:
        suite.failed = max(suite.failed, 1)
        suite.note = f"no `N passed, N failed` line (exit {rc})"
    elif rc != 0:
        suite.failed = max(suite.failed, 1)
        suite.note = f"exit {rc}"
    return suite


def main():
    verbose = os.environ.get("VERBOSE", "") not in ("", "0")
    suites = [run_pure()]
    if os.environ.get("ODOO_SRC"):
        runtime, why = rt.ensure(), ""
    else:
        runtime, why = rt.find()
    if runtime is None:
        reason = f"{why} (install it: make runtime ODOO_SRC=/path/to/odoo-19.0)"
        suites += skipped_odoo_suites(reason)
        suites += [Suite(name, ran=False, note=reason) for name, _script in SCRIPT_SUITES]
    else:
        say(f"Odoo runtime: {runtime}")
        pg = None
        try:
            pg = pgmod.connect()
            say(f"PostgreSQL: {pg}")
            odoo = Odoo(runtime, pg)
            try:
                suites += run_odoo_suites(odoo, verbose)
            finally:
                odoo.close()
        except ToolError as exc:
            say(f"ERROR: {exc}")
            suites += [Suite("Odoo suites", failed=1, note=str(exc).splitlines()[0])]
        finally:
            if pg:
                pg.close()
        suites += [run_script_suite(name, script) for name, script in SCRIPT_SUITES]

    print("\n== pos_mpesa test summary ==")
    for suite in suites:
        if suite.ran:
            line = f"ran      {suite.name}: {suite.passed} passed, {suite.failed} failed"
            line += f", {suite.skipped} skipped" if suite.skipped else ""
        else:
            line = f"SKIPPED  {suite.name}"
        print(line + (f"  ({suite.note})" if suite.note else ""))
    passed = sum(s.passed for s in suites)
    failed = sum(s.failed for s in suites)
    skipped = sum(s.skipped for s in suites)
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    main_guard(main)
