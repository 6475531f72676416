"""The HTTP layer: Litestar routes, wire Structs, auth, the error envelope.

The only package that imports Litestar.
"""
