"""Allow ``python -m tokaudit``."""

from tokaudit.entry import main

main()
