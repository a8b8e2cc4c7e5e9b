"""``python -m crm_analytics`` runs the command line."""

import sys

from crm_analytics.cli import main

if __name__ == "__main__":  # importing this module (doctest collection) runs nothing
    sys.exit(main())
