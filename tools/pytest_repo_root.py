"""pytest plugin used by `make test` (-p pytest_repo_root): the repository root is the Odoo module, so it
has an __init__.py that imports odoo. pytest would make the root a Package and import that file (as
`__init__` when the clone's folder name is not a Python identifier, e.g. `pos-mpesa`), which fails
without Odoo. The pure suites never need it: collect the root as a plain directory instead."""

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_collect_directory(path, parent):
    if path == parent.config.rootpath and (path / "__manifest__.py").is_file():
        return pytest.Dir.from_parent(parent, path=path)
    return None
