"""`python -m app.cli`: the same as the `skubridge` command."""

from app.cli import main

main()
