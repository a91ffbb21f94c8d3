from . import mpesa_token_store
from . import mpesa_config
from . import mpesa_callback
from . import pos_payment_method
from . import pos_payment
from . import res_company
from . import res_config_settings
