"""Hypothesis strategies for triomas messages: ``messages(Cls)``.

Importing this module needs hypothesis (``pip install hypothesis``).
"""

from .._messages.public import fixup_module_metadata
from ._strategies import messages

__all__ = ["messages"]

fixup_module_metadata(__name__, globals(), also=("triomas.testing._strategies",))
del fixup_module_metadata
