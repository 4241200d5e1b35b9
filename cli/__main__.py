"""`python -m optgan_cli` = the `optgan` command."""

from optgan_cli.main import main

main()
