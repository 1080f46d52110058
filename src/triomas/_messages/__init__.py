"""Layer 1, messages & codec: references and addresses, exit reasons, errors, ``@message``, the
envelope, system events, the codec.
"""
