"""Layer 4, supervision as users write it: child specs, ``Supervisor``."""
