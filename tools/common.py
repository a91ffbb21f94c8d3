"""Shared helpers for the pos_mpesa tooling scripts (stdlib only, run by tools/find-python's Python)."""

import contextlib
import fcntl
import hashlib
import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODULE = "pos_mpesa"


def home() -> Path:
    """Per-user cache shared by every clone: runtimes, venvs, node tools. Never inside the work tree."""
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / MODULE
    path = Path(os.environ.get("POS_MPESA_HOME") or default).expanduser().resolve()
    if path == REPO or REPO in path.parents:
        fail(f"POS_MPESA_HOME={path} is inside the work tree; point it outside the repository.")
    return path


def is_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def say(msg: str) -> None:
    print(f"pos_mpesa: {msg}", flush=True)


def warn(msg: str) -> None:
    print(f"pos_mpesa: WARNING: {msg}", file=sys.stderr, flush=True)


class ToolError(Exception):
    """A problem the user can fix; printed as one message, without a traceback."""


def fail(msg: str):
    raise ToolError(msg)


def main_guard(func):
    """Run a script's main(), turning ToolError into one clear message and Ctrl-C into exit 130."""
    try:
        sys.exit(func() or 0)
    except ToolError as exc:
        print(f"pos_mpesa: ERROR: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)
    except KeyboardInterrupt:
        print("\npos_mpesa: interrupted", file=sys.stderr, flush=True)
        sys.exit(130)


def run(cmd, check=True, quiet=False, **kwargs) -> subprocess.CompletedProcess:
    """Run a command; with quiet=True its output is captured and shown only if it fails."""
    if quiet:
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.STDOUT)
        kwargs.setdefault("text", True)
    proc = subprocess.run([str(c) for c in cmd], check=False, **kwargs)
    if check and proc.returncode != 0:
        if quiet and proc.stdout:
            sys.stderr.write(proc.stdout[-4000:])
        fail(f"command failed (exit {proc.returncode}): {' '.join(str(c) for c in cmd)}")
    return proc


def tree_fingerprint(root: Path, skip_dirs=(".git", "__pycache__", "node_modules", ".local")) -> str:
    """Cheap change detector for a source tree: relative paths, sizes and mtimes of its files."""
    digest = hashlib.sha256()
    root = Path(root)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in skip_dirs and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith((".pyc", ".log")):
                continue
            full = os.path.join(dirpath, name)
            try:
                st = os.stat(full)
            except OSError:
                continue
            digest.update(f"{os.path.relpath(full, root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


@contextlib.contextmanager
def file_lock(name: str):
    """Inter-process lock under the cache, so two runs never build the same thing at once."""
    lock_dir = home() / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def free_port(preferred: int | None = None) -> int:
    """The preferred port when nothing listens on it, else one the kernel picks."""
    if preferred and port_free(preferred):
        return preferred
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def which_browser() -> str | None:
    """The browser Odoo's tours use: it looks for these names on PATH."""
    from shutil import which

    for name in ("google-chrome", "chromium", "chromium-browser", "google-chrome-stable"):
        path = which(name)
        if path:
            return path
    return None
