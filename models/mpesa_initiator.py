"""The initiator of an M-Pesa account: the API operator (M-PESA Org portal) that Transaction Status and
Reversal act as, and its SecurityCredential (docs/daraja.md, "APIs for records and refunds").

The credential is either pasted from the Daraja portal, or made from the initiator's password and
Safaricom's certificate (sandbox and production differ). Password and credential are secrets like the
passkey: POS managers only, never sent to the POS, never logged.
"""

import base64

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..daraja import DarajaValidationError
from ..daraja.api_types import Initiator
from ..daraja.records import security_credential
from .mpesa_utils import MANAGER_GROUP


class MpesaConfig(models.Model):
    _inherit = "mpesa.config"

    initiator_name = fields.Char(
        groups=MANAGER_GROUP,
        help="The API operator created on the M-PESA Org portal with the roles of Transaction Status "
        "and Reversal.",
    )
    initiator_password = fields.Char(copy=False, groups=MANAGER_GROUP)
    initiator_certificate = fields.Binary(
        string="Safaricom certificate",
        attachment=False,
        copy=False,
        groups=MANAGER_GROUP,
        help="Safaricom's public certificate (.cer, PEM or DER) of this environment.",
    )
    initiator_certificate_name = fields.Char(groups=MANAGER_GROUP)
    security_credential = fields.Char(
        copy=False,
        groups=MANAGER_GROUP,
        help="Pasted from the Daraja portal; empty: made from the password and the certificate.",
    )

    @api.constrains("initiator_password", "initiator_certificate")
    def _check_initiator_certificate(self):
        for config in self.sudo():
            if config.initiator_password and config.initiator_certificate:
                try:
                    security_credential(
                        config.initiator_password, base64.b64decode(config.initiator_certificate)
                    )
                except DarajaValidationError as error:
                    raise ValidationError(error.message) from None

    def _initiator(self):
        """The daraja Initiator of this account, or None when it has none."""
        self.ensure_one()
        config = self.sudo()
        if not config.initiator_name:
            return None
        credential = config.security_credential
        if not credential and config.initiator_password and config.initiator_certificate:
            certificate = base64.b64decode(config.initiator_certificate)
            credential = security_credential(config.initiator_password, certificate)
        return Initiator(config.initiator_name, credential) if credential else None
