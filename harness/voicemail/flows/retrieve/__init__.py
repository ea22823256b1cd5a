"""The retrieval menu (``VoiceMailMain``), one part per job; :mod:`.flow` puts them together."""
