"""System (Debian/Ubuntu) packages the runtime needs: report the missing ones, install only when allowed.

Installing happens only as root and when the run is non-interactive by intent: CI=true,
DEBIAN_FRONTEND=noninteractive or POS_MPESA_APT=install. POS_MPESA_APT=never only reports.
"""

import os
import shutil
import subprocess

from common import fail, is_ci, run, say, warn

# Headers and libraries pip needs to build psycopg2 and python-ldap from Odoo's requirements.txt.
ODOO_BUILD = ["libpq-dev", "libldap2-dev", "libsasl2-dev", "gcc"]


def have_dpkg() -> bool:
    return shutil.which("dpkg-query") is not None


def missing(packages) -> list[str]:
    """Packages not installed; empty when this is not a dpkg system (nothing can be checked)."""
    if not have_dpkg():
        return []
    absent = []
    for name in packages:
        proc = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True, check=False
        )
        if "install ok installed" not in proc.stdout:
            absent.append(name)
    return absent


def install_allowed() -> tuple[bool, str]:
    policy = os.environ.get("POS_MPESA_APT", "")
    if policy == "never":
        return False, "POS_MPESA_APT=never"
    if os.geteuid() != 0:
        return False, "not running as root"
    if policy == "install" or is_ci() or os.environ.get("DEBIAN_FRONTEND") == "noninteractive":
        return True, ""
    return False, "interactive run (set POS_MPESA_APT=install to let make install them)"


def ensure(packages, why: str) -> None:
    """Fail with the exact apt-get command unless the packages are there or may be installed now."""
    if not have_dpkg():
        warn(f"not a Debian/Ubuntu system: cannot check the packages {why} needs ({' '.join(packages)})")
        return
    absent = missing(packages)
    if not absent:
        return
    allowed, reason = install_allowed()
    command = f"apt-get install -y {' '.join(absent)}"
    if not allowed:
        fail(
            f"{why} needs these system packages: {' '.join(absent)}. Install them with:\n"
            f"    sudo {command}\n(not installing them myself: {reason})"
        )
    say(f"{why} needs {' '.join(absent)}; installing them (root, non-interactive): {command}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-q"], env=env)
    run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *absent], env=env)
