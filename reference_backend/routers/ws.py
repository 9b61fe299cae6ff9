"""`/v1/ws`: live thread state over a WebSocket (`reference_backend.ws`)."""

from fastapi import APIRouter, WebSocket

from reference_backend.ws import serve_connection

router = APIRouter()


@router.websocket("/v1/ws")
async def websocket(socket: WebSocket) -> None:
    """Live thread state: signed auth, subscribe, snapshot then ordered deltas (`reference_backend.ws`)."""
    await serve_connection(socket.app.state.hub, socket)
