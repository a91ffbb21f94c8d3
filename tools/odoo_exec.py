"""Running odoo-bin for pos_mpesa: the addons path, connection options, databases and their filestores."""

import ast
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import MODULE, REPO, home, say


def manifest() -> dict:
    return ast.literal_eval((REPO / "__manifest__.py").read_text())


def db_prefix() -> str:
    """Prefix of every database the tooling creates (POS_MPESA_DB_PREFIX, default 'pos_mpesa_')."""
    return os.environ.get("POS_MPESA_DB_PREFIX", f"{MODULE}_")


def logs_dir() -> Path:
    """.local/logs (gitignored); logs older than a week are removed."""
    path = REPO / ".local" / "logs"
    path.mkdir(parents=True, exist_ok=True)
    week_ago = time.time() - 7 * 86400
    for old in path.glob("*.log"):
        if old.stat().st_mtime < week_ago:
            old.unlink(missing_ok=True)
    return path


class Odoo:
    """odoo-bin of one runtime against one PostgreSQL, with this clone linked as `pos_mpesa`."""

    def __init__(self, runtime, pg):
        self.runtime, self.pg = runtime, pg
        self.data_dir = home() / "odoo-data"
        # The clone's folder may have any name: Odoo needs the module under its technical name.
        self.addons_dir = Path(tempfile.mkdtemp(prefix=f"{MODULE}-addons-"))
        (self.addons_dir / MODULE).symlink_to(REPO)

    def close(self):
        shutil.rmtree(self.addons_dir, ignore_errors=True)

    def addons_paths(self, with_repo=True) -> list[str]:
        # A git checkout has addons/; the packaged archive keeps them all in odoo/addons (always loaded).
        extra = [self.runtime.src / "addons"] if (self.runtime.src / "addons").is_dir() else []
        return [str(p) for p in [*extra, *([self.addons_dir] if with_repo else [])]]

    def command(self, db: str, *args, http_port=None, python=None, with_repo=True) -> list[str]:
        """odoo-bin for db; python: another interpreter (a venv with pos_mpesa installed as a wheel),
        with_repo=False: this clone is not on the addons path."""
        cmd = [
            str(python or self.runtime.python),
            str(self.runtime.odoo_bin),
            f"--addons-path={','.join(self.addons_paths(with_repo))}",
            *self.pg.odoo_args(),
            f"--data-dir={self.data_dir}",
            "-d",
            db,
            "--db-filter",
            f"^{db}$",
        ]
        if http_port:
            cmd += [f"--http-port={http_port}", "--http-interface=127.0.0.1"]
        else:
            cmd += ["--no-http"]
        return cmd + list(args)

    def run_logged(self, db: str, args, log_name: str, echo=None, http_port=None, **how) -> tuple[int, Path]:
        """Run odoo-bin to completion, its whole output into a log file; echo(line) sees every line.
        how: python, with_repo (see command)."""
        log_path = logs_dir() / f"{log_name}.log"
        cmd = self.command(db, *args, http_port=http_port, **how)
        with open(log_path, "w") as log:
            log.write("$ " + " ".join(cmd) + "\n")
            proc = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                env=self.pg.env(),
                cwd=str(self.addons_dir),
            )
            try:
                for line in proc.stdout:
                    log.write(line)
                    if echo:
                        echo(line.rstrip("\n"))
                rc = proc.wait()
            except BaseException:
                proc.terminate()
                proc.wait()
                raise
        return rc, log_path

    def filestore(self, db: str) -> Path:
        return self.data_dir / "filestore" / db

    def copy_db(self, source: str, target: str) -> None:
        """createdb -T plus the filestore; files are hard links (Odoo never rewrites a stored file)."""
        self.drop_db(target)
        self.pg.create(target, template=source)
        if self.filestore(source).is_dir():
            try:
                shutil.copytree(self.filestore(source), self.filestore(target), copy_function=os.link)
            except OSError:
                shutil.rmtree(self.filestore(target), ignore_errors=True)
                shutil.copytree(self.filestore(source), self.filestore(target))

    def drop_db(self, db: str) -> None:
        self.pg.drop(db)
        shutil.rmtree(self.filestore(db), ignore_errors=True)

    def rename_db(self, old: str, new: str) -> None:
        self.pg.rename(old, new)
        if self.filestore(old).is_dir():
            shutil.rmtree(self.filestore(new), ignore_errors=True)
            self.filestore(old).rename(self.filestore(new))


def print_tail(log_path: Path, lines=40) -> None:
    tail = Path(log_path).read_text(errors="replace").splitlines()[-lines:]
    say(f"last lines of {log_path}:")
    sys.stdout.write("".join(f"    {line}\n" for line in tail))
