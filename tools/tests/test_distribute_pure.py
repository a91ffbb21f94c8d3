"""What `make dist` ships: what a shop's Odoo loads and the simulator, never the tooling."""

import zipfile

import distribute as dist
import pytest


@pytest.mark.parametrize(
    "path",
    [
        "__manifest__.py",
        "__init__.py",
        "models/mpesa_claim.py",
        "controllers/callback.py",
        "views/mpesa_callback_views.xml",
        "security/ir.model.access.csv",
        "i18n/sw.po",
        "migrations/19.0.1.1.0/pre-migrate.py",
        "static/src/app/utils/payment/payment_mpesa.js",
        "static/tests/tours/mpesa_stk_tours.js",
        "daraja/client.py",
        "daraja_simulator/server.py",
        "tests/test_claim_scope.py",
        "README.md",
        "docs/daraja.md",
    ],
)
def test_ships(path):
    assert dist.shipped(path)


@pytest.mark.parametrize(
    "path",
    [
        "Makefile",
        "pyproject.toml",
        "requirements-dev.txt",
        ".ci/run",
        "tools/bench.py",
        "tools/bench_addons/pos_mpesa_bench/__manifest__.py",
        "daraja/tests/test_daraja_results.py",
        "daraja_simulator/tests/sim_helpers.py",
        "docs/screenshots/01-payment-line-c2b-default.png",
        "eslint.config.cjs",
        "models/__pycache__/mpesa_claim.cpython-312.pyc",
        "modelsx/evil.py",
    ],
)
def test_does_not_ship(path):
    assert not dist.shipped(path)


def test_zip_has_one_top_folder_and_only_what_ships(tmp_path):
    files = dist.stage(tmp_path, "tree")
    archive = dist.build_zip(tmp_path, tmp_path)
    names = zipfile.ZipFile(archive).namelist()
    assert names and all(name.startswith("pos_mpesa/") for name in names)
    assert sorted(name.removeprefix("pos_mpesa/") for name in names) == sorted(files)
    assert "pos_mpesa/__manifest__.py" in names
    assert not any(
        "/tests/" in name and name.startswith(("pos_mpesa/daraja", "pos_mpesa/tools")) for name in names
    )
