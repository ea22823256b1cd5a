"""The harness as a load generator: many deposits and retrievals through a proxy into a
voicemail server, the subscribers' lamps watched, and one report of what happened."""
