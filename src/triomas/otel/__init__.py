"""OpenTelemetry for triomas: ``pip install triomas[otel]``, then
``triomas.otel.instrument(container)`` for spans of asks and handling (linked across
containers by a W3C ``traceparent`` in each envelope, with the clock's time, virtual
time too, as an attribute) and metrics of messages, handler time, dead letters,
restarts and mailbox depth. See docs/operating.md.
"""

from .._messages.public import fixup_module_metadata
from ._telemetry import SCOPE, Telemetry, instrument

__all__ = ["SCOPE", "Telemetry", "instrument"]

fixup_module_metadata(__name__, globals())
del fixup_module_metadata
