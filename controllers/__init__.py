from . import request_log
from . import callback
from . import main

request_log.install()
