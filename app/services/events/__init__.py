"""Events: the durable log (`log`), the live hub that fans it out (`hub`) and retention (`retention`)."""
