{
    "name": "POS M-Pesa bench helper (never shipped)",
    "version": "19.0.1.0.0",
    "category": "Hidden",
    "summary": "Bare Odoo routes that `make bench` measures pos_mpesa against",
    "author": "pos_mpesa contributors",
    "license": "LGPL-3",
    "depends": ["bus", "pos_mpesa"],
    "data": ["security/ir.model.access.csv"],
    "installable": True,
}
