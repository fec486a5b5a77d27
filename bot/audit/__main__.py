"""`python -m bot.audit verify|export|purge`: the operators' command line (bot/audit/cli.py)."""

import sys

from bot.audit.cli import main

sys.exit(main())
