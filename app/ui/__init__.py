"""The operator console (`/ui/`): server-rendered pages over the same services the REST API
uses. It signs in with the API token once and then carries a signed session cookie, never the
bearer token; it lives outside `/api/v1`, so the edge guard's token check leaves it alone (its
body cap still applies)."""
