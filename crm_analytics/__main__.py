"""``python -m crm_analytics`` runs the command line."""

import sys

from crm_analytics.cli import main

sys.exit(main())
