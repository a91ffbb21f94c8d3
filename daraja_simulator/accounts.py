"""Default credentials and merchant accounts of the simulator (README, "The Daraja simulator")."""

from dataclasses import dataclass, replace

CONSUMER_KEY = "sim-consumer-key"
CONSUMER_SECRET = "sim-consumer-secret"  # noqa: S105 - public simulator default, printed at start
SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"

PAYBILL = "paybill"
TILL = "till"
TRANSACTION_TYPES = {PAYBILL: "CustomerPayBillOnline", TILL: "CustomerBuyGoodsOnline"}


@dataclass(frozen=True)
class StkAccount:
    """A shortcode that may send STK pushes: a paybill, or a till's store/HO number."""

    business_shortcode: str
    kind: str  # PAYBILL or TILL
    party_b: str  # the paybill itself, or the till number
    passkey: str
    name: str
    c2b_shortcode: str = ""  # the C2B shortcode its payments also reach (the STK -> C2B twin)

    @property
    def transaction_type(self) -> str:
        return TRANSACTION_TYPES[self.kind]


@dataclass(frozen=True)
class C2BAccount:
    """A shortcode customers pay directly (C2B), with the Daraja product version the app holds."""

    shortcode: str
    kind: str
    name: str
    api_version: str = "v2"
    validation_enabled: bool = False
    opening_balance: int = 10000

    @property
    def command_id(self) -> str:
        return TRANSACTION_TYPES[self.kind]

    @property
    def transaction_type(self) -> str:
        return "Pay Bill" if self.kind == PAYBILL else "Buy Goods"

    def with_changes(self, **changes) -> "C2BAccount":
        return replace(self, **changes)


def default_stk_accounts() -> dict[str, StkAccount]:
    return {
        "174379": StkAccount("174379", PAYBILL, "174379", SANDBOX_PASSKEY, "SIM PAYBILL SHOP", "600984"),
        "174380": StkAccount("174380", TILL, "174381", SANDBOX_PASSKEY, "SIM TILL SHOP", "174381"),
    }


def default_c2b_accounts() -> dict[str, C2BAccount]:
    return {
        "600984": C2BAccount("600984", PAYBILL, "SIM PAYBILL SHOP"),
        "174381": C2BAccount("174381", TILL, "SIM TILL SHOP"),
    }
