"""`python -m crosscheck.worker FRAMEWORK`: serve one framework's worker on stdin/stdout (crosscheck.worker.server)."""

import sys

from crosscheck import backends
from crosscheck.worker.server import serve

serve(backends.check(sys.argv[1]))
