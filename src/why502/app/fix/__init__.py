"""``why502 fix``: apply a diagnosis' (or lint's) config fix as a transaction.

Modules, lowest first (an import-linter contract keeps the order): ``state`` (records, the lock)
and ``atomic`` (durable atomic writes), ``backup`` and ``journal``, ``plan`` (diffs applied in
memory) and ``service`` (config tests, reloads), ``verify`` (the new workers' 5xx), ``run`` (the
transaction, rollback, undo, crash recovery).
"""
