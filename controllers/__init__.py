from . import callback
from . import main
