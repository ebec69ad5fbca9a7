"""`python -m crosscheck.worker FRAMEWORK`: serve one framework's worker on stdin/stdout (crosscheck.worker.server)."""

import sys

from crosscheck import spec as specs
from crosscheck.worker.server import serve

serve(specs.check_framework(sys.argv[1]))
