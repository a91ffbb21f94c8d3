"""19.0.1.1.0: the claim fields say "claim" (an accountant's "reconcile" is the bank's)."""

RENAMED = {
    "is_reconciled": "is_claimed",
    "reconciled_date": "claim_date",
    "reconciled_by_id": "claimed_by_id",
    "pos_order_ref": "claim_order_key",
}


def migrate(cr, version):
    if not version:
        return
    for old, new in RENAMED.items():
        cr.execute(
            """SELECT 1 FROM information_schema.columns
                WHERE table_name = 'mpesa_callback' AND column_name = %s""",
            (old,),
        )
        if cr.fetchone():
            cr.execute(f'ALTER TABLE mpesa_callback RENAME COLUMN "{old}" TO "{new}"')
            cr.execute(
                "UPDATE ir_model_fields SET name = %s WHERE model = 'mpesa.callback' AND name = %s",
                (new, old),
            )
