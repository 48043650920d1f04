"""`python -m rockctl`: the same as the `rockctl` console script."""

from rockctl.cli import main

raise SystemExit(main())
