"""SMDI: the message-desk serial link to legacy PBXs."""
