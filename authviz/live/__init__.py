"""authviz.live"""
