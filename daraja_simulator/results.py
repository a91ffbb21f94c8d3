"""Result codes, their prose per channel, and the phone-suffix scenarios (README, "The Daraja simulator")."""

from dataclasses import dataclass

SUCCESS = "0"
PENDING_CODE = "4999"
PENDING_DESC = "The transaction is still under processing"

# code -> (callback ResultDesc, query ResultDesc). The same code reads differently per channel
# (1037 is "No response from user." on the callback, "DS timeout..." on the query:
# docs/daraja.md, "STK callback").
DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "0": ("The service request is processed successfully.",) * 2,
    "1": ("The balance is insufficient for the transaction.",) * 2,
    "17": ("Rule limited.",) * 2,
    "1001": ("Unable to lock subscriber, a transaction is already in process for the current subscriber.",)
    * 2,
    "1019": ("Transaction has expired.",) * 2,
    "1025": ("An error occurred while sending a push request.",) * 2,
    "1031": ("Request cancelled by user",) * 2,
    "1032": ("Request Cancelled by user.", "Request cancelled by user"),
    "1036": ("SMSC ACK timeout.",) * 2,
    "1037": ("No response from user.", "DS timeout user cannot be reached."),
    "2001": ("The initiator information is invalid.",) * 2,
    "2028": ("The request is not permitted according to product assignment.",) * 2,
    "8006": ("The security credential is locked.",) * 2,
    "9999": ("Internal error occurred while executing the transaction.",) * 2,
    "SFC_IC0003": ("The operator does not exist.",) * 2,
}


def callback_desc(code: str) -> str:
    return DESCRIPTIONS.get(code, ("Unknown result.",))[0]


def query_desc(code: str) -> str:
    return DESCRIPTIONS.get(code, ("Unknown result.", "Unknown result."))[1]


def callback_code(code: str):
    """STK callbacks carry numeric codes as JSON numbers, the odd string code (SFC_IC0003) as a string."""
    return int(code) if code.isdigit() else code


# Delivery modes of the STK callback.
ONCE = "once"
NONE = "none"
TWICE = "twice"
DELIVERY_MODES = (ONCE, NONE, TWICE)


@dataclass(frozen=True)
class Scenario:
    result_code: str | None  # None: interactive (the phone page decides, or the prompt expires)
    delivery: str = ONCE
    query_code: str | None = None  # the STK query contradicts the callback with this code (None: agrees)

    @property
    def interactive(self) -> bool:
        return self.result_code is None


INTERACTIVE = Scenario(None)

SUFFIX_TABLE: dict[str, Scenario] = {
    "00": Scenario("0"),
    "01": Scenario("1032"),
    "02": Scenario("1"),
    "03": Scenario("1037"),
    "04": Scenario("2001"),
    "05": Scenario("1001"),
    "06": Scenario("17"),
    "07": Scenario("SFC_IC0003"),
    "08": Scenario("0", NONE),
    "09": Scenario("0", TWICE),
    "10": Scenario("1019"),
    "11": Scenario("1036"),
    "12": Scenario("1025"),
    "13": Scenario("9999"),
    "14": Scenario("1031"),
}


def scenario_for_phone(msisdn: str) -> Scenario:
    return SUFFIX_TABLE.get(msisdn[-2:], INTERACTIVE)


def normalise_code(value) -> str:
    """A result code given by a person or a test: 0, "0", 1032, "SFC_IC0003" -> its string form."""
    if isinstance(value, bool) or value is None:
        raise ValueError("result_code must be a number or a code string")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip() and len(value.strip()) <= 20:
        text = value.strip()
        return str(int(text)) if text.isdigit() else text
    raise ValueError("result_code must be a number or a code string")
