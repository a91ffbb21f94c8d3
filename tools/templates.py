"""Cached template databases: pos_mpesa's dependencies (point_of_sale...) installed once, copied per run.

A template's name carries a key computed from the Odoo source tree (paths, sizes, mtimes), the
venv's requirements stamp, the module's `depends` and the demo flag: any change gives a new key,
a new template, and the stale one of the same kind is dropped. pos_mpesa itself is never in a
template, so module changes need no invalidation. Templates are built under another name and
renamed when complete, under a lock, so a crashed or concurrent build never leaves a half one.
"""

import functools
import hashlib

from common import fail, file_lock, say, tree_fingerprint
from odoo_exec import db_prefix, manifest, print_tail
from venvs import STAMP


@functools.cache
def source_fingerprint(src) -> str:
    """About a second on Odoo's ~45000 files; computed once per run."""
    return "".join(tree_fingerprint(src / part) for part in ("odoo", "addons"))


def template_key(runtime, depends, demo: bool) -> str:
    digest = hashlib.sha256()
    digest.update(str(runtime.src).encode())
    digest.update(source_fingerprint(runtime.src).encode())
    stamp = runtime.venv / STAMP
    digest.update(stamp.read_bytes() if stamp.exists() else b"no-stamp")
    digest.update(",".join(sorted(depends)).encode())
    digest.update(b"demo" if demo else b"nodemo")
    return digest.hexdigest()[:12]


def ensure_template(odoo, demo: bool) -> str:
    """Name of an up-to-date template database (built now if needed)."""
    depends = manifest().get("depends") or ["base"]
    kind = f"{db_prefix()}tmpl_{'demo' if demo else 'nodemo'}_"
    name = kind + template_key(odoo.runtime, depends, demo)
    pg = odoo.pg
    if pg.exists(name):
        return name
    with file_lock(name):
        if pg.exists(name):
            return name
        for stale in pg.databases(kind.replace("_", r"\_") + "%"):
            say(f"dropping outdated template database {stale}")
            odoo.drop_db(stale)
        building = name + "_build"
        odoo.drop_db(building)
        pg.create(building)
        what = "with demo data" if demo else "without demo data"
        say(f"building template database {name}: {', '.join(depends)} {what} (once per Odoo source)...")
        args = ["-i", ",".join(depends), "--stop-after-init", "--max-cron-threads=0"]
        args.append("--with-demo" if demo else "--without-demo")
        rc, log = odoo.run_logged(building, args, f"template-{'demo' if demo else 'nodemo'}")
        if rc != 0:
            print_tail(log)
            odoo.drop_db(building)
            fail(f"building the template database failed (odoo-bin exit {rc}); full log: {log}")
        odoo.rename_db(building, name)
    return name
