"""Interop harness and standalone voicemail server for SIP networks."""

__version__ = "0.1.0"
