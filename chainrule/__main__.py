"""`python -m chainrule ...` (also under torchrun)."""

import sys

from chainrule.cli.main import main

sys.exit(main())
