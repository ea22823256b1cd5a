"""Real third-party SIP software the harness starts and stops for a run."""
