"""DarajaConfig: one M-Pesa account as the client needs it. Its repr never shows a credential."""

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .environments import BASE_URLS, C2B_VERSIONS, ENVIRONMENTS, PRODUCTION, SIMULATOR
from .errors import DarajaConfigError

ACCOUNT_TYPES = ("paybill", "till")
# BusinessShortCode (paybill, or the store/HO number of a till) and till numbers: 5 to 7 digits
_SHORTCODE = re.compile(r"^[0-9]{5,7}$")


def is_loopback_host(host) -> bool:
    """This machine: localhost or a loopback address (the simulator's only allowed hosts)."""
    if not host:
        return False
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class DarajaConfig:
    environment: str
    consumer_key: str = field(repr=False)
    consumer_secret: str = field(repr=False)
    passkey: str = field(repr=False)
    account_type: str
    business_shortcode: str
    till_number: str | None = None
    c2b_shortcode: str | None = None
    c2b_api_version: str = "v2"
    base_url: str | None = None

    def __post_init__(self):
        if self.environment not in ENVIRONMENTS:
            raise DarajaConfigError(f"Unknown environment: use one of {', '.join(ENVIRONMENTS)}")
        if self.account_type not in ACCOUNT_TYPES:
            raise DarajaConfigError("Unknown account type: use 'paybill' or 'till'")
        if self.c2b_api_version not in C2B_VERSIONS:
            raise DarajaConfigError("Unknown C2B API version: use 'v1' or 'v2'")
        for name in ("consumer_key", "consumer_secret", "passkey"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise DarajaConfigError(f"M-Pesa not configured: the {name.replace('_', ' ')} is missing")
        self._check_shortcode("business_shortcode", "business shortcode", required=True)
        self._check_shortcode("till_number", "till number", required=self.account_type == "till")
        self._check_shortcode("c2b_shortcode", "C2B shortcode", required=False)
        base_url = self.base_url
        if base_url is not None:
            parts = urlsplit(base_url) if isinstance(base_url, str) else None
            if not parts or parts.scheme not in ("http", "https") or not parts.hostname:
                raise DarajaConfigError("Invalid base URL: expected http(s)://host[:port]")
            if self.environment == SIMULATOR and not is_loopback_host(parts.hostname):
                # an account in simulator mode may hold production credentials: they stay on this machine
                raise DarajaConfigError("The simulator must run on this machine (a loopback address)")
            object.__setattr__(self, "base_url", base_url.rstrip("/"))
        elif self.environment == SIMULATOR:
            raise DarajaConfigError("The simulator environment needs a base URL")

    def _check_shortcode(self, attribute, label, required):
        value = getattr(self, attribute)
        if value is None or value == "":
            if required:
                raise DarajaConfigError(f"M-Pesa not configured: the {label} is missing")
            object.__setattr__(self, attribute, None)
            return
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not _SHORTCODE.match(value.strip()):
            raise DarajaConfigError(f"Invalid {label}: expected 5 to 7 digits")
        object.__setattr__(self, attribute, value.strip())

    @property
    def is_production(self) -> bool:
        return self.environment == PRODUCTION

    @property
    def api_base_url(self) -> str:
        return self.base_url or BASE_URLS[self.environment]

    @property
    def transaction_type(self) -> str:
        return "CustomerBuyGoodsOnline" if self.account_type == "till" else "CustomerPayBillOnline"

    @property
    def party_b(self) -> str:
        """Who receives the money: the paybill itself, or the till (not its store number)."""
        return self.till_number if self.account_type == "till" else self.business_shortcode

    @property
    def effective_c2b_shortcode(self) -> str:
        return self.c2b_shortcode or self.party_b
