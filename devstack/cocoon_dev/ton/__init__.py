"""Local TON chain on the real TVM: emulator engine, in-memory chain, liteserver, control endpoint."""
