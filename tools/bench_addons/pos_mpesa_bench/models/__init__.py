from . import bench_row
from . import ir_http
from . import cache_switch
