"""The embedded implementations of the clients: a home folder opened in this process (``--home``).

They open the registry database and the runtime (SQLAlchemy, the flavors, pandas), so the thin
clients (`berth.client.registry`, `berth.client.endpoints`, …) import them only in the ``open_…``
function that is asked for a home; a caller that talks to a server never loads them.
"""
