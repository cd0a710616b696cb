"""The domain of the counter.

Procedures and versioned rules, the counter session, the card protocol over the
transport seam, PIN policy, records and the local store. No UI or hardware imports.
"""
