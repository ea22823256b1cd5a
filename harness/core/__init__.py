"""Mailbox identity, header conventions (routing) and message-waiting state (MWI)."""
