"""Read an odoo-bin log: test counts per suite, failures, and errors logged outside any test.

Odoo logs one record per line, `2026-01-01 10:00:00,123 PID LEVEL db logger: message`, a traceback
continuing on the following lines. The test runner logs `Starting Class.method ...`,
`skipped Class.method : reason`, `FAIL: ...` / `ERROR: ...` and at the end
`N failed, N error(s) of N tests when loading database 'db'`.
"""

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

RECORD = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \d+ (?P<level>[A-Z]+) (?P<db>\S+) "
    r"(?P<logger>[\w.]+): (?P<msg>.*)$"
)
RESULT = re.compile(r"^(\d+) failed, (\d+) error\(s\) of (\d+) tests when loading database")
STARTING = re.compile(r"^Starting (?:Subtest )?(?P<cls>[\w.]+?)\.(?P<meth>\w+)\b")
SKIPPED = re.compile(r"^skipped (?:Subtest )?(?P<cls>[\w.]+?)\.(?P<meth>\w+)\b")
FAILED = re.compile(
    r"^(?:FAIL|ERROR): (?:Subtest )?(?:(?P<cls>[\w.]+?)\.(?P<meth>\w+)\b|"
    r"\w+ \([\w.]+\.(?P<holder_cls>\w+)\))"
)
TOUR_CALLS = ("start_tour", "start_pos_tour")


@dataclass
class Record:
    level: str
    logger: str
    message: str
    lines: list = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def records(lines):
    """Group raw lines into log records (continuation lines belong to the record above)."""
    current = None
    for line in lines:
        match = RECORD.match(line)
        if match:
            if current:
                yield current
            current = Record(match["level"], match["logger"], match["msg"], [line])
        elif current:
            current.lines.append(line)
    if current:
        yield current


def tour_classes(tests_dir: Path) -> set[str]:
    """Names of test classes whose methods run a browser tour (they call start_tour / start_pos_tour)."""
    found = set()
    for path in Path(tests_dir).glob("*.py"):
        try:
            tree = ast.parse(path.read_text())
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(sub, ast.Attribute) and sub.attr in TOUR_CALLS for sub in ast.walk(node)
            ):
                found.add(node.name)
    return found


@dataclass
class Counts:
    run: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def passed(self) -> int:
        return max(self.run - self.failed - self.skipped, 0)


@dataclass
class OdooRun:
    """What one odoo-bin run reported."""

    suites: dict  # suite name -> Counts
    result: tuple | None  # (failed, errors, tests) from Odoo's final line, None when it never got there
    failures: list  # FAIL/ERROR records of tests
    stray_errors: list  # ERROR/CRITICAL records outside any test failure


def parse(lines, module: str, tour_class_names: set[str]) -> OdooRun:
    prefix = f"odoo.addons.{module}."
    suites = {"python": Counts(), "tours": Counts()}
    result, failures, stray = None, [], []
    for rec in records(lines):
        found = RESULT.match(rec.message)
        if found and rec.logger == "odoo.tests.result":
            result = tuple(int(x) for x in found.groups())
            continue
        in_module = rec.logger.startswith(prefix)
        for pattern, attr in ((STARTING, "run"), (SKIPPED, "skipped")):
            match = pattern.match(rec.message) if in_module and rec.level == "INFO" else None
            if match:
                suite = "tours" if match["cls"].split(".")[-1] in tour_class_names else "python"
                setattr(suites[suite], attr, getattr(suites[suite], attr) + 1)
        if rec.level in ("ERROR", "CRITICAL"):
            match = FAILED.match(rec.message)
            if match:
                cls = (match["cls"] or match["holder_cls"] or "").split(".")[-1]
                suites["tours" if cls in tour_class_names else "python"].failed += 1
                failures.append(rec)
            else:
                stray.append(rec)
    return OdooRun(suites, result, failures, stray)
