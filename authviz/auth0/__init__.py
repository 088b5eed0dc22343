"""authviz.auth0"""
