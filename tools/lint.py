"""`make lint` / `make format` (--fix): one lint profile for the whole module.

  ruff check, ruff format --check       Python (pyproject.toml)
  pylint + pylint_odoo                  OCA's mandatory Odoo checks (.pylintrc)
  oca-checks-odoo-module, oca-checks-po OCA's XML/CSV/manifest and .po checks
  prettier --check                      JS and XML (.prettierrc.yml, @prettier/plugin-xml)
  eslint                                JS (eslint.config.cjs)

Python tools come from the dev venv, node tools from $POS_MPESA_HOME/node (both installed on demand;
without npm the JS/XML checks are reported as skipped). The last line is `lint: N passed, N failed`.
`--only NAME[,NAME]` limits the run (names: ruff, ruff-format, pylint, oca, prettier, eslint); extra
arguments are files (pre-commit passes them), used by the per-file tools.
"""

import argparse
import os
import subprocess
import tempfile
from pathlib import Path

from common import MODULE, REPO, ToolError, main_guard, say
from devenv import dev_tool, ensure_dev_venv, ensure_node_tools, node_dir, node_tool

SKIP_DIRS = {".git", ".local", "node_modules", "__pycache__", ".ruff_cache", ".pytest_cache", ".hypothesis"}
STEPS = ("ruff", "ruff-format", "pylint", "oca", "prettier", "eslint")


def module_files(*suffixes) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(REPO):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        found += [
            os.path.relpath(os.path.join(dirpath, f), REPO) for f in sorted(filenames) if f.endswith(suffixes)
        ]
    return found


def _run(name, cmd, env=None) -> bool:
    say(f"{name}: {' '.join(str(c) for c in cmd[:4])}{' ...' if len(cmd) > 4 else ''}")
    proc = subprocess.run([str(c) for c in cmd], cwd=REPO, env=env, check=False)
    return proc.returncode == 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fix", action="store_true", help="rewrite files (ruff fix + format, prettier)")
    parser.add_argument("--only", default=",".join(STEPS))
    parser.add_argument("files", nargs="*")
    args = parser.parse_args()
    only = set(args.only.split(","))
    unknown = only - set(STEPS)
    if unknown:
        raise ToolError(f"unknown lint step(s): {', '.join(sorted(unknown))}; known: {', '.join(STEPS)}")
    files = args.files
    results = {}  # step -> True / False / None (skipped, with a reason)
    reasons = {}

    ensure_dev_venv()
    py_files = [f for f in files if f.endswith(".py")] if files else ["."]
    if "ruff" in only and py_files:
        results["ruff"] = _run(
            "ruff check", [dev_tool("ruff"), "check", *(["--fix"] if args.fix else []), *py_files]
        )
    if "ruff-format" in only and py_files:
        results["ruff-format"] = _run(
            "ruff format",
            [dev_tool("ruff"), "format", *([] if args.fix else ["--check", "--diff"]), *py_files],
        )
    # The module checks need the folder under its technical name (the clone may be called anything).
    with tempfile.TemporaryDirectory() as tmp:
        link = Path(tmp) / MODULE
        link.symlink_to(REPO)
        if "pylint" in only:
            results["pylint"] = _run(
                "pylint-odoo",
                [dev_tool("pylint"), f"--rcfile={REPO / '.pylintrc'}", "--ignore=tools,.local", link],
            )
        if "oca" in only:
            ok = _run("oca-checks-odoo-module", [dev_tool("oca-checks-odoo-module"), "--no-verbose", link])
            po_files = [str(REPO / f) for f in module_files(".po", ".pot")]
            if po_files:
                ok = _run("oca-checks-po", [dev_tool("oca-checks-po"), "--no-verbose", *po_files]) and ok
            results["oca"] = ok

    js = [
        f
        for f in (files or module_files(".js"))
        if f.endswith(".js") and not f.endswith(".config.cjs") and f.startswith("static/")
    ]
    xml = [f for f in (files or module_files(".xml")) if f.endswith(".xml")]
    if only & {"prettier", "eslint"}:
        try:
            ensure_node_tools()
        except ToolError as exc:
            for step in ("prettier", "eslint"):
                if step in only:
                    results[step], reasons[step] = None, str(exc)
    if "prettier" in only and "prettier" not in results:
        plugin = node_dir() / "node_modules" / "@prettier" / "plugin-xml" / "src" / "plugin.js"
        targets = js + xml
        if targets:
            results["prettier"] = _run(
                "prettier",
                [node_tool("prettier"), f"--plugin={plugin}", "--write" if args.fix else "--check", *targets],
            )
        else:
            results["prettier"], reasons["prettier"] = None, "no JS or XML files"
    if "eslint" in only and "eslint" not in results:
        if js:
            env = dict(os.environ, NODE_PATH=str(node_dir() / "node_modules"))
            results["eslint"] = _run(
                "eslint",
                [
                    node_tool("eslint"),
                    "--config",
                    REPO / "eslint.config.cjs",
                    *(["--fix"] if args.fix else []),
                    *js,
                ],
                env=env,
            )
        else:
            results["eslint"], reasons["eslint"] = None, "no JS files under static/"

    print("\n== pos_mpesa lint ==")
    for step, ok in results.items():
        state = {True: "ok     ", False: "FAILED ", None: "skipped"}[ok]
        print(f"{state} {step}" + (f"  ({reasons[step]})" if step in reasons else ""))
    passed = sum(1 for ok in results.values() if ok)
    failed = sum(1 for ok in results.values() if ok is False)
    if not args.fix and (results.get("ruff-format") is False or results.get("prettier") is False):
        print("(`make format` rewrites what ruff format and prettier report)")
    print(f"lint: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    main_guard(main)
