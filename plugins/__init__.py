"""Built-in plugins (propagation models and recommenders), written exactly as a user would write one.

They are discovered through the registry in ``sim``; ``sim`` never imports this package directly.
"""
