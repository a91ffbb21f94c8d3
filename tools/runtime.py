"""The Odoo 19.0 runtime: a virtualenv in $POS_MPESA_HOME/odoo-venv whose odoo-src symlink names its source.

    python tools/runtime.py find      # print the runtime (exit 1 when there is none); installs nothing
    python tools/runtime.py ensure    # reuse it, or build it from ODOO_SRC=..., else from the official
                                      # 19.0 source archive (nightly.odoo.com)

The venv is reused as long as the source's requirements.txt is unchanged (stamp file). ODOO_SRC may
be any Odoo 19.0 checkout; giving another one re-points odoo-src (and re-runs pip if needed).
"""

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import apt
from common import fail, file_lock, home, main_guard, say
from venvs import ensure_venv, python_works, venv_python

SERIES = "19.0"
ARCHIVE_URL = "https://nightly.odoo.com/19.0/nightly/src/odoo_19.0.latest.tar.gz"
# Extra packages for the test harness: websocket-client drives Chromium in tours.
EXTRA_PACKAGES = ["websocket-client"]
# odoo-bin as in a git checkout, for the archive that lacks it.
LAUNCHER = '#!/usr/bin/env python3\nimport odoo.cli\n\nif __name__ == "__main__":\n    odoo.cli.main()\n'
# cbor2 (an Odoo requirement) does not build with setuptools 81+.
BUILD_CONSTRAINTS = "setuptools<81\n"


@dataclass
class Runtime:
    venv: Path
    python: Path
    src: Path

    @property
    def odoo_bin(self) -> Path:
        return self.src / "odoo-bin"

    @property
    def version(self) -> str:
        return source_version(self.src) or "?"

    def __str__(self):
        return f"Odoo {self.version} from {self.src} (venv {self.venv})"


def venv_dir() -> Path:
    return home() / "odoo-venv"


def source_version(src: Path) -> str | None:
    """The series in odoo/release.py ('19.0'), None when src is not an Odoo source tree."""
    release = Path(src) / "odoo" / "release.py"
    if not (Path(src) / "odoo-bin").is_file() or not release.is_file():
        return None
    match = re.search(r"^version_info\s*=\s*\((\d+),\s*(\d+)", release.read_text(), re.M)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def check_source(src: Path, origin: str) -> Path:
    src = Path(src).expanduser().resolve()
    if not src.is_dir():
        fail(f"{origin}={src}: no such folder")
    version = source_version(src)
    if version is None:
        fail(f"{origin}={src} is not an Odoo source tree (no odoo-bin / odoo/release.py)")
    if version != SERIES:
        fail(f"{origin}={src} is Odoo {version}; pos_mpesa needs Odoo {SERIES}")
    return src


def find() -> tuple[Runtime | None, str]:
    """The installed runtime without installing anything, or None and why not."""
    venv = venv_dir()
    link = venv / "odoo-src"
    if not venv.is_dir():
        return None, f"no Odoo runtime in {venv}"
    if not python_works(venv_python(venv)):
        return None, f"{venv} has no working python"
    if not link.exists():
        return None, f"{link} does not point at an Odoo source tree"
    src = link.resolve()
    if source_version(src) != SERIES:
        return None, f"{src} is not an Odoo {SERIES} source tree"
    return Runtime(venv, venv_python(venv), src), ""


def download_source(dest_parent: Path) -> Path:
    """Fetch and unpack the official 19.0 source archive; returns the unpacked tree."""
    url = os.environ.get("POS_MPESA_ODOO_ARCHIVE_URL", ARCHIVE_URL)
    dest = dest_parent / f"odoo-{SERIES}"
    say(f"no ODOO_SRC given: downloading the Odoo {SERIES} source archive from {url}")
    downloads = dest_parent / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    archive = downloads / Path(url).name
    try:
        with urllib.request.urlopen(url, timeout=60) as answer, open(f"{archive}.part", "wb") as out:  # noqa: S310
            shutil.copyfileobj(answer, out, 1 << 20)
    except (urllib.error.URLError, OSError) as exc:
        Path(f"{archive}.part").unlink(missing_ok=True)
        fail(
            f"could not download {url} ({exc}).\n"
            f"Give an Odoo {SERIES} source checkout instead, e.g.:\n"
            f"    git clone --depth 1 -b {SERIES} https://github.com/odoo/odoo.git ~/src/odoo-{SERIES}\n"
            f"    make runtime ODOO_SRC=~/src/odoo-{SERIES}"
        )
    os.replace(f"{archive}.part", archive)
    say(f"unpacking {archive}")
    with tempfile.TemporaryDirectory(dir=dest_parent) as tmp, tarfile.open(archive) as tar:
        kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(tmp, **kwargs)  # noqa: S202 (official archive; data filter where available)
        roots = [p for p in Path(tmp).iterdir() if p.is_dir()]
        if len(roots) == 1 and not (roots[0] / "odoo-bin").exists():
            # The packaged archive ships its launcher as setup/odoo (and its addons under odoo/addons).
            (roots[0] / "odoo-bin").write_text(LAUNCHER)
        if len(roots) != 1 or source_version(roots[0]) != SERIES:
            fail(f"{archive} does not contain an Odoo {SERIES} source tree")
        if dest.exists():
            shutil.rmtree(dest)
        roots[0].rename(dest)
    return dest


def ensure(odoo_src: str | None = None) -> Runtime:
    """Reuse, adapt or build the runtime (see module docstring). Never touches the work tree."""
    odoo_src = odoo_src or os.environ.get("ODOO_SRC") or None
    venv = venv_dir()
    with file_lock("odoo-src"):
        if odoo_src:
            src = check_source(Path(odoo_src), "ODOO_SRC")
        else:
            current, _why = find()
            conventional = home() / f"odoo-{SERIES}"
            if current:
                src = current.src
            elif source_version(conventional) == SERIES:
                src = conventional
            else:
                src = download_source(home())
        apt.ensure(apt.ODOO_BUILD + _python_headers(), "building the Odoo virtualenv")
        venv.mkdir(parents=True, exist_ok=True)
        constraints = home() / "build-constraints.txt"
        if not constraints.exists() or constraints.read_text() != BUILD_CONSTRAINTS:
            constraints.write_text(BUILD_CONSTRAINTS)
        pip_env = {} if os.environ.get("PIP_CONSTRAINT") else {"PIP_CONSTRAINT": str(constraints)}
        python = ensure_venv(venv, [src / "requirements.txt"], EXTRA_PACKAGES, pip_env, "Odoo virtualenv")
        link = venv / "odoo-src"
        if not link.is_symlink() or link.resolve() != src:
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(src)
            say(f"Odoo runtime now uses the source in {src}")
    return Runtime(venv, python, src)


def _python_headers() -> list[str]:
    """Debian's python3.X-dev when the venv is built with a system Python (pyenv ships its headers)."""
    if not sys.executable.startswith("/usr/bin/"):
        return []
    return [f"python{sys.version_info.major}.{sys.version_info.minor}-dev"]


def main():
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "find":
        runtime, why = find()
        if not runtime:
            print(why)
            return 1
        print(runtime)
        return 0
    if command == "ensure":
        runtime = ensure()
        check = subprocess.run(
            [str(runtime.python), str(runtime.odoo_bin), "--version"],
            capture_output=True,
            text=True,
            check=False,
        )
        if check.returncode:
            fail(f"the Odoo runtime does not start: {check.stderr.strip()[-800:]}")
        say(f"Odoo runtime ready: {runtime}")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    main_guard(main)
