"""Signalling: appointments, invites, room tokens, the room WebSocket, the store and the bus."""
