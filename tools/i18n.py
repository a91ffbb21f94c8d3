"""`make i18n`: export i18n/pos_mpesa.pot from a real install and merge every i18n/*.po against it.

pos_mpesa is installed (without demo data) on a throwaway copy of the cached template database, the
template is exported with `odoo-bin i18n export`, and the database is dropped. Each .po is then
updated with polib from the Odoo venv (the layout `make lint` checks). Fuzzy matching is off: Odoo
imports fuzzy entries as if they were translated, so a guessed one would reach the till.
Ends with each language's coverage (translated/total); exits 1 if a .po file is invalid.
"""

import os
import shutil
import tempfile
from pathlib import Path

import pg as pgmod
import runtime as rt
from common import MODULE, REPO, fail, main_guard, run, say
from odoo_exec import Odoo, db_prefix, print_tail
from templates import ensure_template

I18N = REPO / "i18n"
POT = I18N / f"{MODULE}.pot"

# polib fallback, run by the Odoo venv's Python (polib is one of Odoo's requirements).
POLIB_MERGE = """
import sys, polib
po, pot = polib.pofile(sys.argv[1]), polib.pofile(sys.argv[2])
po.merge(pot)
for entry in po.obsolete_entries():
    po.remove(entry)
po.save(sys.argv[1])
"""
POLIB_STATS = """
import sys, polib
po = polib.pofile(sys.argv[1])
print(len(po.translated_entries()), len([e for e in po if not e.obsolete]))
"""


def export_pot(odoo) -> None:
    db = f"{db_prefix()}i18n_{os.getpid()}"
    conf = None
    try:
        odoo.copy_db(ensure_template(odoo, demo=False), db)
        say(f"installing {MODULE} on {db} (a throwaway copy of the template)")
        args = ["-i", MODULE, "--stop-after-init", "--max-cron-threads=0", "--without-demo"]
        rc, log = odoo.run_logged(db, args, f"i18n-install-{os.getpid()}")
        if rc != 0:
            print_tail(log)
            fail(f"installing {MODULE} failed (odoo-bin exit {rc}); full log: {log}")
        # The i18n subcommand reads its connection from a config file only (-c/-d).
        handle, conf = tempfile.mkstemp(prefix=f"{MODULE}-i18n-", suffix=".conf")
        pg = odoo.pg
        with os.fdopen(handle, "w") as out:
            out.write(
                "[options]\n"
                f"addons_path = {','.join(odoo.addons_paths())}\n"
                f"db_host = {pg.host}\ndb_port = {pg.port}\ndb_user = {pg.user}\n"
                f"data_dir = {odoo.data_dir}\n"
            )
        I18N.mkdir(exist_ok=True)
        say(f"exporting {POT.relative_to(REPO)}")
        cmd = [odoo.runtime.python, odoo.runtime.odoo_bin, "i18n", "export", "-c", conf, "-d", db]
        run([*cmd, "-l", "pot", "-o", POT, MODULE], quiet=True, env=pg.env())
        if not POT.is_file() or "msgid" not in POT.read_text():
            fail(f"odoo-bin wrote no translatable terms to {POT}")
    finally:
        if conf:
            Path(conf).unlink(missing_ok=True)
        odoo.drop_db(db)


def merge(po: Path, python) -> None:
    # polib, not msgmerge: `make lint` checks the .po files' layout with polib's (oca-checks-po), and
    # msgmerge wraps lines differently
    run([python, "-c", POLIB_MERGE, po, POT], quiet=True)


def coverage(po: Path, python) -> str:
    if shutil.which("msgfmt"):
        # -c checks the header and that every translation keeps its source's placeholders.
        cmd = ["msgfmt", "-c", "--check-format", "--statistics", "-o", os.devnull, po]
        proc = run(cmd, check=False, quiet=True)
        if proc.returncode != 0:
            fail(f"{po.relative_to(REPO)} is invalid:\n{proc.stdout.strip()}")
        return proc.stdout.strip().splitlines()[-1]
    done, total = run([python, "-c", POLIB_STATS, po], quiet=True).stdout.split()
    return f"{done}/{total} translated"


def main():
    runtime, why = (rt.ensure(), "") if os.environ.get("ODOO_SRC") else rt.find()
    if runtime is None:
        fail(f"{why}: `make i18n` needs the Odoo runtime (make runtime ODOO_SRC=/path/to/odoo-19.0)")
    pg = pgmod.connect()
    odoo = Odoo(runtime, pg)
    try:
        export_pot(odoo)
    finally:
        odoo.close()
        pg.close()
    total = POT.read_text().count('\nmsgid "') - 1  # minus the header's empty msgid
    say(f"{POT.relative_to(REPO)}: {total} msgids")
    for po in sorted(I18N.glob("*.po")):
        merge(po, runtime.python)
        say(f"{po.relative_to(REPO)}: {coverage(po, runtime.python)}")


if __name__ == "__main__":
    main_guard(main)
