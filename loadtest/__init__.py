"""loadtest: the simulator's agents driving a real reference backend over HTTP and WebSocket, with crashes, then
consistency checks (spec section 10).

Its own package because it stands above the parts it joins: it imports `sim` (agents, scenarios), `properties`
(snapshot comparison) and `reference_backend` (the client, the server process, the event filter), while the
backend itself imports only `choir_model` and `programs`. `run` holds the run and its report, `remote` the
simulator's world over a server, `verify` the checks. `choir load` is its command line.
"""
