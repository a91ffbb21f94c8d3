"""`make dist`: what a shop installs, and nothing of the tooling around it.

    dist/pos_mpesa-<version>.zip                          Odoo's app-store layout: one folder pos_mpesa/
    dist/odoo_addon_pos_mpesa-<version>-py3-none-any.whl  an Odoo addon wheel (odoo/addons/pos_mpesa/)

Both are built from the git-tracked files (`--source head`: the last commit) through a staged copy that
holds only what ships (SHIPPED). The wheel is built by whool, the build backend OCA uses for its addon
wheels: whool packages every git-tracked file of the addon, hence the staged copy in a throwaway git
repository of its own.

    tools/run distribute [--source tree|head] [--out DIR]
"""

import argparse
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from common import MODULE, REPO, main_guard, say
from devenv import ensure_dev_venv
from odoo_exec import manifest

# What a shop's Odoo loads, and the simulator: the "Local simulator" environment and the demo data
# point at it, so a shop trains its cashiers without Safaricom:
# python -m odoo.addons.pos_mpesa.daraja_simulator
# tests/ and static/tests ship, as in every Odoo addon: `--test-tags /pos_mpesa` runs on an installed copy.
SHIPPED = (
    "__init__.py",
    "__manifest__.py",
    "README.md",
    "controllers/",
    "data/",
    "daraja/",
    "daraja_simulator/",
    "docs/daraja.md",
    "i18n/",
    "migrations/",
    "models/",
    "security/",
    "static/",
    "tests/",
    "views/",
)
# the pure-Python suites of the two packages run with pytest in this repository, never in a shop
NOT_SHIPPED = ("daraja/tests/", "daraja_simulator/tests/")
WHEEL_PYPROJECT = '[build-system]\nrequires = ["whool"]\nbuild-backend = "whool.buildapi"\n'


def shipped(path: str) -> bool:
    """A repository path (posix, relative) that goes into the zip and the wheel."""
    if path.startswith(NOT_SHIPPED) or "/__pycache__/" in f"/{path}":
        return False
    return any(path == item or (item.endswith("/") and path.startswith(item)) for item in SHIPPED)


def tracked_files(source: str) -> list[str]:
    """The files git knows: in the work tree (`tree`) or in the last commit (`head`)."""
    cmd = (
        ["git", "ls-files", "-z"]
        if source == "tree"
        else ["git", "ls-tree", "-r", "-z", "--name-only", "HEAD"]
    )
    out = subprocess.run(cmd, cwd=REPO, check=True, capture_output=True).stdout.decode()
    return sorted(name for name in out.split("\0") if name)


def stage(dest: Path, source: str) -> list[str]:
    """Copy what ships into dest/pos_mpesa/; returns the paths copied."""
    files = [name for name in tracked_files(source) if shipped(name)]
    root = dest / MODULE
    for name in files:
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source == "tree":
            shutil.copy2(REPO / name, target)
        else:
            blob = subprocess.run(["git", "show", f"HEAD:{name}"], cwd=REPO, check=True, capture_output=True)
            target.write_bytes(blob.stdout)
    return files


def build_zip(staged: Path, out: Path) -> Path:
    path = out / f"{MODULE}-{manifest()['version']}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted((staged / MODULE).rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(staged).as_posix())
    return path


def build_wheel(staged: Path, out: Path) -> Path:
    addon = staged / MODULE
    (addon / "pyproject.toml").write_text(WHEEL_PYPROJECT)
    git = ["git", "-c", "user.name=pos_mpesa dist", "-c", "user.email=dist@localhost"]
    subprocess.run([*git, "init", "-q"], cwd=addon, check=True)
    subprocess.run([*git, "add", "-A"], cwd=addon, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "what ships"], cwd=addon, check=True)
    python = ensure_dev_venv()
    before = set(out.glob("*.whl"))
    subprocess.run(
        [str(python), "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), "."],
        cwd=addon,
        check=True,
    )
    built = sorted(set(out.glob("*.whl")) - before) or sorted(out.glob(f"odoo_addon_{MODULE}-*.whl"))
    return built[-1]


def build(out: Path, source: str = "tree") -> tuple[Path, Path]:
    """(zip, wheel) of what ships, in out/."""
    out.mkdir(parents=True, exist_ok=True)
    for old in [*out.glob(f"{MODULE}-*.zip"), *out.glob(f"odoo_addon_{MODULE}-*.whl")]:
        old.unlink()
    with tempfile.TemporaryDirectory(prefix=f"{MODULE}-dist-") as tmp:
        staged = Path(tmp)
        files = stage(staged, source)
        say(f"staged {len(files)} files ({source})")
        return build_zip(staged, out), build_wheel(staged, out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=("tree", "head"), default="tree")
    parser.add_argument("--out", type=Path, default=REPO / "dist")
    args = parser.parse_args()
    for path in build(args.out.resolve(), args.source):
        say(f"{path}  ({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main_guard(main)
