"""``python -m routegate.cli``: the ``routegate`` command, for a checkout without the script on PATH."""

import sys

from routegate.cli import main

if __name__ == "__main__":
    sys.exit(main())
