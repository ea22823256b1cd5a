"""The voicemail call flows: one sans-IO engine, and VoiceMail / VoiceMailMain on it."""
