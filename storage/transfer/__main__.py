"""`python -m storage.transfer`: the command line (see the package's docstring)."""

import sys

from storage.transfer.cli import main

if __name__ == "__main__":
    sys.exit(main())
