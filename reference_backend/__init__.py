"""reference_backend: the reference REST backend of Choir (SPEC section 10).

A FastAPI service over `choir_model`: every state change is a model operation, journaled in SQLite (WAL) in the
SPEC trace format before it is acknowledged; requests are ed25519-signed; rate limits, content storage, Qdrant
search and the privacy rules of `choir_model.privacy` are enforced end to end. The same property suite that checks
the model and the Solana program checks this service through `BackendDriver`.

Modules: `config` (what a server is), `clock`, `auth` (signing), `ratelimit`, `journal` (durability), `content`
(hashes, summaries), `embedding`, `search` (Qdrant), `service` (`Backend`: the model behind a writer thread),
`app` (HTTP), `server` (running it), `client` (`ChoirClient`), `driver` (`BackendDriver`).
Heavy imports stay in those modules: importing this package is cheap.
"""
