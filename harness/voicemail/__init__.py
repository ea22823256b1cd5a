"""The standalone voicemail server."""
