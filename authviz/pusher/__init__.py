"""authviz.pusher"""
