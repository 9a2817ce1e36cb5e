"""One module per family of reads; each exposes `async def <read>(ctx) -> ReadResult`."""
