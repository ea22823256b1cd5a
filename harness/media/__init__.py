"""Media: G.711, RTP and RFC 4733 codecs, RTP sessions, audio signatures."""
