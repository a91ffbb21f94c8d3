from odoo import api, fields, models


class PosPayment(models.Model):
    _inherit = "pos.payment"

    mpesa_receipt_number = fields.Char(string="M-Pesa Receipt", copy=False)
    mpesa_checkout_request_id = fields.Char(string="M-Pesa CheckoutRequestID", copy=False)
    mpesa_phone_number = fields.Char(string="M-Pesa Phone", copy=False)
    mpesa_callback_id = fields.Many2one(
        "mpesa.callback", string="M-Pesa Transaction", copy=False, index="btree_not_null"
    )

    @api.model
    def _load_pos_data_fields(self, config):
        fields_list = super()._load_pos_data_fields(config)
        if not fields_list:
            return fields_list  # [] means every field
        return [
            *fields_list,
            "mpesa_receipt_number",
            "mpesa_checkout_request_id",
            "mpesa_phone_number",
            "mpesa_callback_id",
        ]

    @api.model_create_multi
    def create(self, vals_list):
        payments = super().create(vals_list)
        payments._mpesa_link_callbacks()
        return payments

    def write(self, vals):
        res = super().write(vals)
        if {"mpesa_callback_id", "mpesa_checkout_request_id", "mpesa_receipt_number"} & set(vals):
            self._mpesa_link_callbacks()
        return res

    def _mpesa_link_callbacks(self):
        """The order reached the server: each M-Pesa line takes the row it claimed (mpesa_claim.py)."""
        Callback = self.env["mpesa.callback"]
        for payment in self.filtered(
            lambda p: p.mpesa_callback_id or p.mpesa_checkout_request_id or p.mpesa_receipt_number
        ):
            row = Callback._claim_row_for_payment(payment)
            if not row or not row._claim_link_payment(payment):
                continue
            payment_vals = {}
            if payment.mpesa_callback_id != row:
                payment_vals["mpesa_callback_id"] = row.id
            if not payment.mpesa_receipt_number and row.mpesa_receipt_number:
                payment_vals["mpesa_receipt_number"] = row.mpesa_receipt_number
            # Odoo's own payment reference: a bank statement line can be matched by the receipt
            if not payment.transaction_id and row.mpesa_receipt_number:
                payment_vals["transaction_id"] = row.mpesa_receipt_number
            if not payment.mpesa_phone_number and row.phone_number:
                payment_vals["mpesa_phone_number"] = row.phone_number
            if payment_vals:
                super(PosPayment, payment.sudo()).write(payment_vals)
        return True

    def _mpesa_sent_back(self):
        """The refund lines (negative) among these whose money M-Pesa sent back: a Reversal done for
        their refund order, of exactly their amount (mpesa_reversal.py)."""
        refunds = self.filtered(lambda p: p.currency_id.compare_amounts(p.amount, 0) < 0)
        if not refunds:
            return refunds
        reversals = (
            self.env["mpesa.daraja.request"]
            .sudo()
            .search(
                [
                    ("kind", "=", "reversal"),
                    ("outcome", "in", ("reversed", "already_reversed")),
                    ("refund_order_key", "in", refunds.pos_order_id.mapped("uuid")),
                ]
            )
        )
        used, sent_back = set(), self.browse()
        for refund in refunds:
            reversal = reversals.filtered(
                lambda r, refund=refund: (
                    r.id not in used
                    and r.refund_order_key == refund.pos_order_id.uuid
                    and not refund.currency_id.compare_amounts(r.amount, -refund.amount)
                )
            )[:1]
            if reversal:
                used.add(reversal.id)
                sent_back |= refund
        return sent_back
