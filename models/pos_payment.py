import logging

from odoo import api, fields, models

_logger = logging.getLogger(__name__)


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

    def _mpesa_find_callback(self):
        self.ensure_one()
        Callback = self.env["mpesa.callback"].sudo()
        if self.mpesa_callback_id:
            return self.sudo().mpesa_callback_id
        if self.mpesa_checkout_request_id:
            return Callback.search(
                [("checkout_request_id", "=", self.mpesa_checkout_request_id), ("callback_type", "=", "stk")],
                limit=1,
            )
        if self.mpesa_receipt_number:
            return Callback.search(
                [("mpesa_receipt_number", "=", self.mpesa_receipt_number)],
                order="callback_type desc",
                limit=1,
            )
        return Callback

    def _mpesa_link_callbacks(self):
        """Final link when the order reaches the server: the claimed row gets its order and payment.

        The row must have been claimed for this order (reconcile_callback / check_status), or be
        free (an offline till): a payment line can never take a payment another order owns.
        """
        for payment in self.filtered(
            lambda p: p.mpesa_callback_id or p.mpesa_checkout_request_id or p.mpesa_receipt_number
        ):
            row = payment._mpesa_find_callback()
            if not row or row.pos_payment_id == payment:
                continue
            row._lock_row()
            order = payment.pos_order_id
            refs = {order.uuid, str(order.id), order.pos_reference, order.name} - {False, None, ""}
            same_company = row.company_id == order.company_id
            claimed_here = (
                row.is_reconciled
                and not row.pos_payment_id
                and (
                    row.pos_order_ref in refs
                    or row.pos_order_id == order
                    or (
                        row.callback_type == "stk"
                        and row.pos_config_id == order.config_id
                        and row.pos_order_ref == row.order_reference
                    )
                )
            )
            free = row.status == "success" and not row.is_reconciled and not row.duplicate_of_id
            if not same_company or not (claimed_here or free):
                _logger.warning(
                    "POS payment %s refers to M-Pesa row %s owned by another order: not linked",
                    payment.id,
                    row.id,
                )
                continue
            row.write(
                {
                    "is_reconciled": True,
                    "reconciled_date": row.reconciled_date or fields.Datetime.now(),
                    "reconciled_by_id": row.reconciled_by_id.id or self.env.uid,
                    "pos_order_ref": order.uuid or str(order.id),
                    "pos_order_id": order.id,
                    "pos_payment_id": payment.id,
                    "pos_config_id": row.pos_config_id.id or order.config_id.id,
                }
            )
            payment_vals = {}
            if payment.mpesa_callback_id != row:
                payment_vals["mpesa_callback_id"] = row.id
            if not payment.mpesa_receipt_number and row.mpesa_receipt_number:
                payment_vals["mpesa_receipt_number"] = row.mpesa_receipt_number
            if payment_vals:
                super(PosPayment, payment.sudo()).write(payment_vals)
        return True
