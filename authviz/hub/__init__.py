"""authviz.hub"""
