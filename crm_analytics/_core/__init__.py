"""Layer 0: errors, input checks, dates, shared vocabularies and the CSV writer.

Imports nothing else from the package.
"""
