"""aiomas 2.0.1 (2017), made to run on msgpack >= 1.0 and Python 3.11: import it from here.

aiomas is unmaintained; its last release predates msgpack 1.0 and Python 3.10. The
benchmarks use its RPC layer (``aiomas.rpc.start_server``, ``open_connection``, a
:class:`~aiomas.rpc.Service` with ``@expose``d methods) with its ``MsgPack`` and ``JSON``
codecs, and this module patches, at import time, exactly what breaks on that path,
each patch on aiomas's own class and documented where it is made. Nothing else (no
trio, no triomas, no other library) is touched.

What was checked, by running the RPC round trip with both codecs on CPython 3.11 and
msgpack 1.2: the channel and RPC code runs as released (its ``loop=`` arguments are its
own, not asyncio's, and it uses no ``asyncio.async`` or ``@asyncio.coroutine``); only
the ``MsgPack`` codec fails, on the first message it decodes. aiomas's agent
``Container`` would need more (``asyncio.gather(..., loop=)`` at shutdown and
``asyncio.sleep(..., loop=)`` in its clock, both removed in Python 3.10), and so would
its in-process ``local_queue`` transport (``asyncio.Queue(loop=)``); the benchmarks use
neither, so they are left as released.

``import _aiomas_shim`` raises whatever ``import aiomas`` raises where it is missing.
"""

from __future__ import annotations

from typing import Any

import aiomas
import aiomas.codecs
import msgpack

__all__ = ["aiomas"]


def _msgpack_decode(self: aiomas.codecs.MsgPack, data: Any) -> Any:
    # Patch 1: aiomas.codecs.MsgPack.decode. As released it calls
    # ``msgpack.unpackb(data, object_hook=..., use_list=False, encoding='utf-8')``;
    # msgpack 1.0 removed ``encoding`` (TypeError: unexpected keyword argument), and
    # ``raw=False`` (the default since 1.0) is its replacement: str comes back as str.
    # ``use_list=False`` is still supported and kept (aiomas expects tuples).
    # ``strict_map_key=False`` restores what msgpack < 1.0 did with map keys that are
    # not str or bytes (1.0 made unpacking those an error); aiomas's own maps have str
    # keys, so on the benchmark's path it changes nothing.
    return msgpack.unpackb(
        data,
        object_hook=self.deserialize_obj,
        use_list=False,
        raw=False,
        strict_map_key=False,
    )


aiomas.codecs.MsgPack.decode = _msgpack_decode  # type: ignore[method-assign]
