"""The application folder's documents: intake (what may be stored), sealing (encryption at
rest), blobs (where sealed bytes live) and the vault that ties them together."""
