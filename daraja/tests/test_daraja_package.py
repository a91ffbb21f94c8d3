"""The layer stays importable without Odoo: no odoo import, relative imports only inside it."""

import ast
from pathlib import Path

import daraja

PACKAGE = Path(daraja.__file__).parent
SOURCES = sorted(p for p in PACKAGE.glob("*.py"))
CONTRACT_A = {
    "DarajaConfig",
    "TokenStore",
    "MemoryTokenStore",
    "DarajaClient",
    "StkPushResponse",
    "StkQueryResult",
    "C2BRegisterResponse",
    "DarajaError",
    "DarajaValidationError",
    "InvalidPhoneNumber",
    "InvalidAmount",
    "InvalidUrl",
    "DarajaAPIError",
    "DarajaAuthError",
    "DarajaTransportError",
    "CallbackParseError",
    "normalize_phone",
    "validate_amount",
    "PaymentStatus",
    "ResultInfo",
    "classify_result",
    "parse_callback",
    "detect_callback_kind",
    "StkCallback",
    "C2BNotification",
    "nairobi_timestamp",
    "eat_to_utc",
}
# cryptography: the SecurityCredential (Odoo ships it)
THIRD_PARTY_ALLOWED = {"requests", "urllib3", "cryptography"}


def _imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield 0, alias.name
        elif isinstance(node, ast.ImportFrom):
            yield node.level, node.module or ""


def test_contract_a_names_are_exported():
    assert set(daraja.__all__) >= CONTRACT_A
    for name in daraja.__all__:
        assert getattr(daraja, name) is not None


def test_no_odoo_and_no_absolute_self_imports():
    import sys

    stdlib = set(sys.stdlib_module_names)
    assert SOURCES
    for path in SOURCES:
        for level, module in _imports(path):
            top = module.split(".")[0]
            if level:
                continue
            assert top != "odoo", path
            assert top != "daraja", f"{path.name}: use a relative import"
            assert top in stdlib or top in THIRD_PARTY_ALLOWED, f"{path.name} imports {module}"


def test_errors_hierarchy():
    assert issubclass(daraja.DarajaAuthError, daraja.DarajaAPIError)
    for cls in (daraja.InvalidPhoneNumber, daraja.InvalidAmount, daraja.InvalidUrl, daraja.DarajaConfigError):
        assert issubclass(cls, daraja.DarajaValidationError)
    for cls in (
        daraja.DarajaValidationError,
        daraja.DarajaAPIError,
        daraja.DarajaTransportError,
        daraja.CallbackParseError,
    ):
        assert issubclass(cls, daraja.DarajaError)
    error = daraja.DarajaAPIError("400.002.02", "Bad Request - Invalid Amount", "r-1", 400)
    assert (error.error_code, error.error_message, error.request_id, error.http_status) == (
        "400.002.02",
        "Bad Request - Invalid Amount",
        "r-1",
        400,
    )
    assert error.message == "400.002.02: Bad Request - Invalid Amount"
    transport = daraja.DarajaTransportError("no answer", ambiguous=True)
    assert transport.ambiguous and transport.message == "no answer" == str(transport)
