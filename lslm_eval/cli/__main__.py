"""`python -m lslm_eval.cli` (what `accelerate launch -m lslm_eval.cli train ...` runs)."""

import sys

from lslm_eval.cli import main

sys.exit(main())
