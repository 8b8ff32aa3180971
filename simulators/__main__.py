"""`python -m simulators demo | zoho | woocommerce`: see simulators/cli.py."""

from simulators.cli import main

main()
