"""A local Daraja (Safaricom M-Pesa API) simulator: standard library only, no internet needed."""

from .accounts import CONSUMER_KEY, CONSUMER_SECRET, SANDBOX_PASSKEY
from .results import SUFFIX_TABLE
from .server import SimulatorServer

__all__ = ["CONSUMER_KEY", "CONSUMER_SECRET", "SANDBOX_PASSKEY", "SUFFIX_TABLE", "SimulatorServer"]
