"""Connect flows: linking Zoho and a store by signing in at the vendor (OAuth and its kin)."""
