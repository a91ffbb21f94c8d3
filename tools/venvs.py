"""Create or reuse a virtualenv whose packages come from requirement files.

A stamp file inside the venv records a hash of what was installed; when it matches, nothing runs
(a second `make` is fast). A venv without a matching stamp (new requirements, or built by hand)
gets one `pip install -r`, which is a quick no-op for packages already there.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from common import fail, file_lock, run, say

STAMP = ".pos_mpesa-stamp.json"


def venv_python(venv: Path) -> Path:
    return Path(venv) / "bin" / "python"


def python_works(python: Path) -> bool:
    try:
        return (
            subprocess.run(
                [str(python), "-c", "import sys"], capture_output=True, timeout=60, check=False
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def requirements_hash(requirement_files, extra) -> str:
    digest = hashlib.sha256()
    for path in requirement_files:
        digest.update(Path(path).read_bytes())
    digest.update("\n".join(extra).encode())
    return digest.hexdigest()


def stamp_matches(venv: Path, wanted_hash: str) -> bool:
    try:
        stamp = json.loads((Path(venv) / STAMP).read_text())
    except (OSError, ValueError):
        return False
    return stamp.get("requirements") == wanted_hash and python_works(venv_python(venv))


def ensure_venv(venv: Path, requirement_files, extra=(), pip_env=None, label="virtualenv") -> Path:
    """Make `venv` hold the requirements; returns its python. Serialised by a lock per venv."""
    venv = Path(venv)
    extra = list(extra)
    wanted = requirements_hash(requirement_files, extra)
    if stamp_matches(venv, wanted):
        return venv_python(venv)
    with file_lock(venv.name):
        if stamp_matches(venv, wanted):  # another run finished it while we waited
            return venv_python(venv)
        if not python_works(venv_python(venv)):
            say(
                f"creating the {label} in {venv} with Python {sys.version.split()[0]} ({sys.executable}); "
                "this takes a few minutes"
            )
            run([sys.executable, "-m", "venv", "--clear", venv])
        else:
            say(f"updating the {label} in {venv}")
        cmd = [venv_python(venv), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        for path in requirement_files:
            cmd += ["-r", path]
        cmd += extra
        proc = run(cmd, check=False, env=dict(os.environ, **(pip_env or {})))
        if proc.returncode:
            fail(
                f"pip could not install the {label} requirements (exit {proc.returncode}); "
                "see the pip output above."
            )
        (venv / STAMP).write_text(
            json.dumps(
                {
                    "requirements": wanted,
                    "python": sys.version.split()[0],
                    "files": [str(p) for p in requirement_files],
                },
                indent=1,
            )
        )
    return venv_python(venv)
