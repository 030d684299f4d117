"""RTP-level forwarding: pure functions over RTP packets and payloads, no decoding."""
