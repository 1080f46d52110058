"""Layer 6, transport & rpc: transports, sockets, the wire protocol, connections, the network,
remote replies, the virtual network.
"""
