"""Helpers shared by test suites: databases, domain builders."""
