"""`python -m screensight` runs the command-line interface."""

from screensight.cli import main

raise SystemExit(main())
