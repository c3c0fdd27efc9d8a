"""GoHighLevel: the HTTP client (application.ports.crm.CrmApi), the integration provider, and fake/,
a stand-in GHL server for tests, benchmarks and demos that the service itself never imports."""
