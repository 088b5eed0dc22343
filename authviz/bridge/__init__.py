"""authviz.bridge"""
