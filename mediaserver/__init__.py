"""Media server: an aiortc SFU that forwards encoded media without decoding it."""
