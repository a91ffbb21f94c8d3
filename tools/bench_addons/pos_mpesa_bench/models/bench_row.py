"""The plain table of the bare callback route: no index, no logic, one row per request."""

from odoo import fields, models


class MpesaBenchRow(models.Model):
    _name = "mpesa.bench.row"
    _description = "Bench: a bare stored request"

    kind = fields.Char()
    payload = fields.Text()
