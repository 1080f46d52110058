"""Co-simulation with mosaik: a container of agents as a mosaik simulator.

``from triomas.mosaik import Model, Simulator, Inputs, mosaik_of``; run one with
``python -m triomas mosaik pkg.mod:sim %(addr)s`` (mosaik's ``cmd`` starter),
``--listen HOST:PORT`` (its ``connect`` starter), or ``"python": "pkg.mod:sim"`` (in
mosaik's process). See docs/mosaik.md. mosaik itself is not needed at run time: the
protocol is spoken here, on trio.
"""

from .._messages.public import fixup_module_metadata
from ._channel import connect, listen, serve
from ._link import MosaikLink, mosaik_of
from ._model import Inputs, Model, SimType
from ._session import AgentCrashed
from ._simulator import Simulator
from ._wire import MAX_FRAME

__all__ = [
    "MAX_FRAME",
    "AgentCrashed",
    "Inputs",
    "Model",
    "MosaikLink",
    "SimType",
    "Simulator",
    "connect",
    "listen",
    "mosaik_of",
    "serve",
]

fixup_module_metadata(__name__, globals())
del fixup_module_metadata
