"""Simulated proxies, phones and PBXs."""
