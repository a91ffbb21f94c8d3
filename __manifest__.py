{
    "name": "POS M-Pesa",
    "version": "19.0.1.1.0",
    "category": "Sales/Point of Sale",
    "summary": "Safaricom M-Pesa (Daraja) payments at the till: STK push and C2B matching",
    "author": "pos_mpesa contributors",
    "license": "LGPL-3",
    "depends": ["point_of_sale"],
    "external_dependencies": {"python": ["requests"]},
    "data": [
        "security/ir.model.access.csv",
        "security/mpesa_security.xml",
        "data/ir_cron.xml",
        "views/mpesa_callback_views.xml",
        "views/mpesa_rejected_request_views.xml",
        "views/mpesa_test_payment_views.xml",
        "views/mpesa_daraja_request_views.xml",
        "views/mpesa_daily_statement_views.xml",
        "views/mpesa_pull_range_views.xml",
        "views/mpesa_config_views.xml",
        "views/pos_payment_method_views.xml",
        "views/pos_payment_views.xml",
        "views/pos_session_views.xml",
        "views/res_config_settings_views.xml",
        "views/menus.xml",
    ],
    "demo": [
        "data/mpesa_demo.xml",
    ],
    "assets": {
        "point_of_sale._assets_pos": [
            "pos_mpesa/static/src/**/*",
        ],
        "web.assets_tests": [
            "pos_mpesa/static/tests/tours/**/*",
        ],
        "web.assets_unit_tests": [
            "pos_mpesa/static/tests/unit/**/*",
        ],
    },
    "installable": True,
}
