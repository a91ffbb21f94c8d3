"""The pure-Python dev virtualenv ($POS_MPESA_HOME/dev-venv, from requirements-dev.txt) and the node lint
tools ($POS_MPESA_HOME/node, from tools/node/package.json). Neither lives in the work tree.

    python tools/devenv.py [python|node]    # create or update them (default: python)
"""

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from common import REPO, fail, file_lock, home, main_guard, run, say
from venvs import ensure_venv, requirements_hash, stamp_matches, venv_python

NODE_PACKAGE = REPO / "tools" / "node" / "package.json"


def dev_venv() -> Path:
    return home() / "dev-venv"


def dev_requirements() -> list[Path]:
    return [REPO / "requirements-dev.txt"]


def dev_venv_ready() -> bool:
    return stamp_matches(dev_venv(), requirements_hash(dev_requirements(), []))


def ensure_dev_venv() -> Path:
    """Python of the dev venv, created or updated when requirements-dev.txt changed."""
    ensure_venv(dev_venv(), dev_requirements(), label="dev virtualenv")
    return venv_python(dev_venv())


def dev_tool(name: str) -> Path:
    return dev_venv() / "bin" / name


def node_dir() -> Path:
    return home() / "node"


def node_tool(name: str) -> Path:
    return node_dir() / "node_modules" / ".bin" / name


def _node_stamp() -> str:
    return hashlib.sha256(NODE_PACKAGE.read_bytes()).hexdigest()


def node_tools_ready() -> bool:
    stamp = node_dir() / ".pos_mpesa-stamp"
    return stamp.exists() and stamp.read_text() == _node_stamp() and node_tool("prettier").exists()


def ensure_node_tools() -> Path:
    """prettier, its XML plugin and eslint, installed with npm into the cache (pinned in tools/node)."""
    if node_tools_ready():
        return node_dir()
    npm = shutil.which("npm")
    if not npm:
        fail("npm not found: install Node.js 18+ (apt-get install nodejs npm) for the JS/XML lint tools.")
    with file_lock("node"):
        if node_tools_ready():
            return node_dir()
        node_dir().mkdir(parents=True, exist_ok=True)
        say(f"installing prettier and eslint into {node_dir()}")
        shutil.copyfile(NODE_PACKAGE, node_dir() / "package.json")
        run(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", node_dir()],
            cwd=node_dir(),
        )
        (node_dir() / ".pos_mpesa-stamp").write_text(_node_stamp())
    return node_dir()


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "python"
    if what == "python":
        python = ensure_dev_venv()
        version = subprocess.run([str(python), "--version"], capture_output=True, text=True, check=False)
        say(f"dev virtualenv ready: {dev_venv()} ({version.stdout.strip()})")
    elif what == "node":
        say(f"node lint tools ready: {ensure_node_tools()}")
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    main_guard(main)
