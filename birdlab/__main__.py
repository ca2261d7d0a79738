"""`python -m birdlab` runs the birdlab command."""
import sys

from birdlab.cli import main

sys.exit(main())
