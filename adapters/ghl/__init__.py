"""GoHighLevel: the HTTP client (application.ghl.GhlApi) and the integration provider."""
