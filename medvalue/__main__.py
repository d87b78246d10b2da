"""``python -m medvalue``: the same command as ``medvalue``."""

from medvalue.cli import main

raise SystemExit(main())
