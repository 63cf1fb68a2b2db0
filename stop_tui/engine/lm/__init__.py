"""Language models: the gateway every call goes through, and the backends behind it."""
