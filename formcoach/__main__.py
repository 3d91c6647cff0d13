"""``python -m formcoach`` runs the CLI."""

import sys

from formcoach.cli import main

sys.exit(main())
