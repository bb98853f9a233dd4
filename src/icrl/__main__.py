"""``python -m icrl``: the command line (``icrl.cli``), also what ``torchrun -m icrl train ...`` starts."""

import sys

from icrl.cli import main

sys.exit(main())
