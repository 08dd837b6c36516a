"""`python -m service` is the `preflight` command."""

from service.cli import main

main()
