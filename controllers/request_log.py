"""The callback token never reaches a log.

Odoo's request log prints every path ("POST /pos_lipa/cb/<token>/stk HTTP/1.1" 200), and tracebacks
or warnings may quote a URL: a filter on every handler of the root logger masks our callback
tokens (in a path, a ``token=`` query parameter or an X-Callback-Token header) in every record,
whichever logger emitted it, in threaded and prefork servers alike (workers inherit the handlers).
"""

import logging
import re

# /pos_lipa/cb/<token>/..., ?token=<token>, X-Callback-Token: <token>
SECRET_RE = re.compile(r"(/pos_lipa/cb/|[?&]token=|X-Callback-Token:\s*)[^/\s&\"'?#]+", re.IGNORECASE)
MASK = "***"


def mask_secrets(text):
    return SECRET_RE.sub(lambda match: match.group(1) + MASK, text)


class CallbackTokenFilter(logging.Filter):
    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:
            return True
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


def install():
    """Idempotent: one filter per handler, also for handlers added after a first install."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, CallbackTokenFilter) for f in handler.filters):
            handler.addFilter(CallbackTokenFilter())
