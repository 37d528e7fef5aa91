"""`python -m rapport.cli`: the same command as the `rapport` console script."""

from rapport.cli.main import main

main()
