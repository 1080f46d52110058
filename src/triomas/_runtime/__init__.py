"""Layer 5, the runtime kernel: container, registry, router, cells, mailboxes, dispatch, engines,
the supervision tree, monitors and links.
"""
