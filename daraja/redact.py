"""Remove secrets from text that came from outside (Daraja echoes the access token in some errors)."""

import re

MASK = "***"
# "Error Occurred - Invalid Access Token - <token>": the token may be an older one we no longer hold
_ECHOED_TOKEN = re.compile(r"(Invalid Access Token\s*-\s*)([A-Za-z0-9._~+/=-]{16,})", re.IGNORECASE)


def redact(text, secrets) -> str | None:
    if text is None:
        return None
    text = str(text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    return _ECHOED_TOKEN.sub(lambda m: m.group(1) + MASK, text)
