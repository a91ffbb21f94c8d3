"""The bench's server: tools/live_server.LiveServer plus the bench-only helper addon on the addons path.

LiveServer links only pos_mpesa into its addons folder; the bench also needs
tools/bench_addons/pos_mpesa_bench (bare routes, never shipped). BenchServer links it next to
pos_mpesa in the same temporary folder (so odoo-bin shell and the server both see it) and its setup
script installs it before anything else.
"""

import live_server
from common import REPO
from odoo_exec import Odoo

BENCH_ADDON = REPO / "tools" / "bench_addons" / "pos_mpesa_bench"

# Run first by the setup script: install the helper addon, then hand a fresh environment to the rest.
INSTALL_HELPER = """
import odoo
env["ir.module.module"].update_list()
_helper = env["ir.module.module"].search([("name", "=", "pos_mpesa_bench")])
if not _helper:
    raise RuntimeError("pos_mpesa_bench is not on the addons path")
if _helper.state != "installed":
    _helper.button_immediate_install()
env.cr.commit()
env = odoo.api.Environment(env.cr, odoo.SUPERUSER_ID, {})
"""


class _OdooWithBenchAddon(Odoo):
    def __init__(self, runtime, pg):
        super().__init__(runtime, pg)
        (self.addons_dir / BENCH_ADDON.name).symlink_to(BENCH_ADDON)


class BenchServer(live_server.LiveServer):
    """LiveServer whose addons folder also holds pos_mpesa_bench, installed by the setup script."""

    def __init__(self, name="bench", *, setup_script="", **kwargs):
        super().__init__(name, setup_script=INSTALL_HELPER + (setup_script or ""), **kwargs)

    def _start(self):
        original = live_server.Odoo
        live_server.Odoo = _OdooWithBenchAddon
        try:
            super()._start()
        finally:
            live_server.Odoo = original

    def processes(self) -> dict[str, int]:
        """{label: pid} of what LiveServer started ("Odoo", "the simulator")."""
        return {label: proc.pid for label, proc in self._procs}
