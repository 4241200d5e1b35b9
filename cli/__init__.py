"""optgan's click command-line interface (installed as the `optgan_cli` package)."""
