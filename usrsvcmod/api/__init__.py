"""usrsvcd's HTTP API, metrics and web page (docs/api.md).

listen.py is loaded with the daemon (the sockets, the event ring); the rest
(parser, routes, metrics) only once a first request arrives.
"""
