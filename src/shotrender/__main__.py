"""`python -m shotrender`. SIGINT and SIGTERM are caught before the command line's modules (click) import:
that takes a tenth of a second, in which SIGTERM would otherwise kill the process with no exit code."""

import sys

from shotrender import signals
from shotrender.errors import Interrupted

signals.install()
try:
    from shotrender.cli import main
except Interrupted as e:
    signals.finish()
    sys.exit(e.exit_code)

main()
