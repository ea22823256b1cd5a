"""The SIP core: messages, URIs and addresses, transactions, dialogs, transports, SDP."""
