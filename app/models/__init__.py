"""msgspec Structs exchanged at the edges (REST bodies, CLI output, UI)."""
