"""Using every core the process is given: how many there are, and running model calls on them.

Why a sub-package: the runtime's own modules stay one job each (rnaloc_infer/ holds at most
12); this one answers "how many cores may I use" (:mod:`.cores`) and "run these calls on
them, results in order" (:mod:`.pool`). The choice of threads sharing one ONNX Runtime session
over intra-op threads or worker processes was measured: docs/PERFORMANCE.md, "All cores".
"""

from .cores import available_cpus, worker_count
from .pool import run_jobs, run_windows, shared_budget

__all__ = ["available_cpus", "run_jobs", "run_windows", "shared_budget", "worker_count"]
