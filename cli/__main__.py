"""`python -m optgan_cli` = the `optgan` command."""

from optgan_cli.entry import main

main()
