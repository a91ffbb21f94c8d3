"""Daraja hosts and paths (docs/daraja.md, "Hosts and paths")."""

SANDBOX = "sandbox"
PRODUCTION = "production"
SIMULATOR = "simulator"
ENVIRONMENTS = (SANDBOX, PRODUCTION, SIMULATOR)

BASE_URLS = {
    SANDBOX: "https://sandbox.safaricom.co.ke",
    PRODUCTION: "https://api.safaricom.co.ke",
}

C2B_VERSIONS = ("v1", "v2")

OAUTH_PATH = "/oauth/v1/generate?grant_type=client_credentials"
STK_PUSH_PATH = "/mpesa/stkpush/v1/processrequest"
STK_QUERY_PATH = "/mpesa/stkpushquery/v1/query"
TRANSACTION_STATUS_PATH = "/mpesa/transactionstatus/v1/query"
REVERSAL_PATH = "/mpesa/reversal/v1/request"
PULL_REGISTER_PATH = "/pulltransactions/v1/register"
PULL_QUERY_PATH = "/pulltransactions/v1/query"
QR_CODE_PATH = "/mpesa/qrcode/v1/generate"


def c2b_register_path(version: str) -> str:
    return f"/mpesa/c2b/{version}/registerurl"


def c2b_simulate_path(version: str) -> str:
    return f"/mpesa/c2b/{version}/simulate"
