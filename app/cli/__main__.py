"""`python -m app.cli` runs the maestro command."""

from app.cli import main

main()
