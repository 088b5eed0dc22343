"""authviz.analytics"""
