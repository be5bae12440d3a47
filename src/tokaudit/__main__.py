"""Allow ``python -m tokaudit``."""

from tokaudit.cli import main

main()
