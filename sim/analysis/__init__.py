"""Analysis: communities, centralities and network measures, exports and figures. Imports store and core."""
