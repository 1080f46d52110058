"""Layer 3, the agent: ``Agent``, the context it reaches its runtime through, options, handlers,
RPC.
"""
