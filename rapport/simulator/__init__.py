"""The shop simulator: realistic domain events, chaos on the wire, and a ground-truth ledger."""
