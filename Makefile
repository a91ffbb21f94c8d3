# pos_mpesa developer commands (see README: Quick start, Development).
#
#   make run       Odoo 19 + pos_mpesa with demo data and the Daraja simulator; Ctrl-C stops it all
#   make test      pure-Python suite always; Odoo tests, POS tours and the demo-data install check when
#                  the Odoo runtime is installed. Last line: `N passed, N failed`. VERBOSE=1: full Odoo log
#   make doctor    what this machine has for pos_mpesa, and how to get what is missing
#   make lint      ruff (check + format), pylint-odoo, prettier (JS/XML), eslint (JS)
#   make format    rewrite files the way `make lint` wants them (ruff format/fix, prettier)
#   make runtime   find or build the Odoo 19 runtime; ODOO_SRC=/path/to/odoo-19.0 builds it from a checkout
#   make dev-venv  the pure-Python dev virtualenv (pytest, ruff, pylint-odoo)
#   make screenshots  the README's pictures of the cashier's flows (docs/screenshots/), from the real POS
#   make i18n      export i18n/pos_mpesa.pot from a throwaway install, merge i18n/*.po into it, show coverage
#   make reliability  races, replays, fuzz and forgeries over HTTP against a real server; prints a table
#   make bench     pos_mpesa vs bare Odoo, prefork, a million rows (QUICK=1: 10,000 rows); prints a table
#   make prefork-tours  the POS tours in Chromium against a prefork server (QUICK=1: 2 STK + 2 C2B tours)
#   make dist      what a shop installs: dist/pos_mpesa-<version>.zip and an Odoo addon wheel
#
# Everything installed lives in $POS_MPESA_HOME (default ~/.cache/pos_mpesa), shared by all clones,
# never in this work tree; only logs and a private PostgreSQL cluster (if one is needed) go to .local/.
# Lint is not part of `make test`: style never hides a test result. CI (.ci/run) runs `make test`,
# then `make lint` when its tools are available (the dev venv, and npm for prettier/eslint).

TOOL := tools/run

.PHONY: help run test doctor lint format runtime dev-venv screenshots i18n reliability bench prefork-tours dist

help:
	@sed -n '3,16p' Makefile | sed 's/^# \{0,1\}//'

run:
	@$(TOOL) run

test:
	@$(TOOL) test

doctor:
	@$(TOOL) doctor

lint:
	@$(TOOL) lint

format:
	@$(TOOL) lint --fix

runtime:
	@$(TOOL) runtime ensure

dev-venv:
	@$(TOOL) devenv python

screenshots:
	@$(TOOL) screenshots

i18n:
	@$(TOOL) i18n

reliability:
	@$(TOOL) reliability $(if $(QUICK),--quick)

bench:
	@$(TOOL) bench $(if $(QUICK),--quick)

prefork-tours:
	@$(TOOL) prefork-tours $(if $(QUICK),--quick)

dist:
	@$(TOOL) distribute
