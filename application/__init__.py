"""Use cases and the ports they drive. Imports the domain and nothing of the outer layers."""
