"""`python -m session_manager ...` runs the `session-manager` command."""

from .cli import main

main()
