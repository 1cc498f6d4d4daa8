"""Entry point for ``python -m lab``."""

import sys

from lab.compute import tune_allocator

tune_allocator()  # at start-up, before training allocates its buffers (LAB_MALLOPT=0 turns it off)

from lab.cli import main  # noqa: E402 - after the allocator is tuned

sys.exit(main())
