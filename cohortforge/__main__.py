"""`python -m cohortforge` runs the same CLI as the console script."""

from cohortforge.cli import main

main()
