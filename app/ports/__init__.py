"""The engine's words for the outside world: a `Store` it writes products to, a
`CatalogSource` it reads items from, the outcomes of a write and the errors either may raise.

Nothing here knows a vendor. Each vendor is an adapter under app/integrations/ that translates
its shapes, codes and quirks into these; app/connections/adapters.py builds a connection's.
"""
