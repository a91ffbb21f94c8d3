from . import test_callbacks
from . import test_pos_endpoints
from . import test_config
from . import test_end_to_end
from . import test_pos_mpesa_tours
from . import test_money_safety
from . import test_claim_scope
from . import test_caches
