"""Helpers shared by the tests: live clusters, credentials, scraping, load. No tests here."""
