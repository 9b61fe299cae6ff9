"""A loopback JSON-RPC endpoint over LiteSVM: just enough of a validator's API for `RpcTransport` (and solana-py
clients generally) to deploy-free test a program over real HTTP on 127.0.0.1.

Why: the RPC transport must be exercised end to end (JSON-RPC encoding, preflight failures, confirmation, account
reads) without a Solana validator, which cannot be installed here. The program is deployed into the endpoint's
LiteSVM through the upgradeable loader, like on a cluster; the Clock sysvar follows the wall clock (plus an
optional offset), so clients see time pass as on a real cluster. Each transaction sent lands in a slot of its
own, whose block time is the Clock's `unix_timestamp` it ran at, as a validator records it.

Methods: getLatestBlockhash, sendTransaction (with preflight simulation unless skipPreflight), simulateTransaction
(error and units only), getSignatureStatuses, getBlockTime, getAccountInfo, getProgramAccounts, getBlockHeight,
getSlot, getHealth. Responses are rendered by solders' own RPC response types, so their JSON is what solana-py parses.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from solders.account import Account
from solders.clock import Clock
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.rpc.errors import SendTransactionPreflightFailureMessage
from solders.rpc.responses import (
    GetAccountInfoResp,
    GetBlockHeightResp,
    GetBlockTimeResp,
    GetLatestBlockhashResp,
    GetProgramAccountsResp,
    GetSignatureStatusesResp,
    GetSlotResp,
    RpcBlockhash,
    RpcKeyedAccount,
    RpcResponseContext,
    RpcSimulateTransactionResult,
    SendTransactionResp,
)
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata
from solders.transaction_status import TransactionConfirmationStatus, TransactionStatus

from programs.loader import SYSTEM_PROGRAM, deploy_upgradeable
from programs.transport import runtime

PREFLIGHT_FAILURE = -32002
BLOCK_NOT_AVAILABLE = -32004
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602


class LoopbackValidator:
    """LiteSVM behind a JSON-RPC HTTP server on 127.0.0.1 (a free port), in a background thread."""

    def __init__(
        self,
        image: bytes,
        program: Keypair,
        *,
        funded: dict[Pubkey, int] | None = None,
        clock_offset: int = 0,
        authority: Keypair | None = None,
    ) -> None:
        """Deploy `image` as `program`, with `authority` (default: a throwaway key) as its upgrade authority: the
        only key that may then initialize the program's config. The SVM is the driver's lean runtime
        (`programs.transport.runtime`: `LiteSVM()` without the SPL programs Choir never calls), started in a
        fraction of a millisecond instead of 10 to 60 ms."""
        self.svm = runtime()
        self.clock_offset = clock_offset
        deployer = authority or Keypair()
        self.svm.set_account(deployer.pubkey(), Account(10**15, b"", SYSTEM_PROGRAM))
        self.program_id = deploy_upgradeable(self.svm, deployer, program, image)
        for key, lamports in (funded or {}).items():
            self.svm.set_account(key, Account(lamports, b"", SYSTEM_PROGRAM))
        self._statuses: dict[Signature, TransactionStatus] = {}
        self._block_times: dict[int, int] = {}  # slot -> the Clock's unix_timestamp its transaction ran at
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"validator": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- JSON-RPC --------------------------------------------------------------------------------------------

    def _tick(self) -> None:
        c = self.svm.get_clock()
        now = int(time.time()) + self.clock_offset
        if c.unix_timestamp != now:
            self.svm.set_clock(Clock(c.slot, c.epoch_start_timestamp, c.epoch, c.leader_schedule_epoch, now))

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        method = request.get("method")
        params = request.get("params") or []
        handler = getattr(self, f"_rpc_{method}", None)
        if handler is None:
            return {"error": {"code": METHOD_NOT_FOUND, "message": f"Method not found: {method}"}}
        with self._lock:
            self._tick()
            try:
                return handler(params)
            except (ValueError, KeyError, IndexError) as error:
                return {"error": {"code": INVALID_PARAMS, "message": f"Invalid params: {error}"}}

    def _context(self) -> RpcResponseContext:
        return RpcResponseContext(self.svm.get_clock().slot)

    @staticmethod
    def _result(resp: Any) -> dict[str, Any]:
        return {"result": json.loads(resp.to_json())["result"]}

    def _rpc_getHealth(self, params: list) -> dict[str, Any]:
        return {"result": "ok"}

    def _rpc_getSlot(self, params: list) -> dict[str, Any]:
        return self._result(GetSlotResp(self.svm.get_clock().slot))

    def _rpc_getBlockHeight(self, params: list) -> dict[str, Any]:
        return self._result(GetBlockHeightResp(self.svm.get_clock().slot))

    def _rpc_getLatestBlockhash(self, params: list) -> dict[str, Any]:
        blockhash = RpcBlockhash(self.svm.latest_blockhash(), self.svm.get_clock().slot + 150)
        return self._result(GetLatestBlockhashResp(blockhash, self._context()))

    def _decode_tx(self, params: list) -> VersionedTransaction:
        options = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
        raw = params[0]
        data = base64.b64decode(raw) if options.get("encoding", "base58") == "base64" else _b58decode(raw)
        return VersionedTransaction.from_bytes(data)

    def _simulate(self, tx: VersionedTransaction) -> RpcSimulateTransactionResult | None:
        """None when the transaction would succeed, else the failure as a simulation result."""
        result = self.svm.simulate_transaction(tx)
        if isinstance(result, FailedTransactionMetadata):
            meta = result.meta()
            return RpcSimulateTransactionResult(
                err=result.err(), logs=list(meta.logs()), units_consumed=meta.compute_units_consumed()
            )
        return None

    def _rpc_simulateTransaction(self, params: list) -> dict[str, Any]:
        failure = self._simulate(self._decode_tx(params))
        value = json.loads((failure or RpcSimulateTransactionResult()).to_json())
        return {"result": {"context": {"slot": self.svm.get_clock().slot}, "value": value}}

    def _rpc_sendTransaction(self, params: list) -> dict[str, Any]:
        tx = self._decode_tx(params)
        options = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
        if not options.get("skipPreflight", False):
            failure = self._simulate(tx)
            if failure is not None:
                message = SendTransactionPreflightFailureMessage("Transaction simulation failed", failure)
                return {"error": {"code": PREFLIGHT_FAILURE, **json.loads(message.to_json())}}
        result = self.svm.send_transaction(tx)
        err = result.err() if isinstance(result, FailedTransactionMetadata) else None
        signature = tx.signatures[0]
        clock = self.svm.get_clock()
        self._statuses[signature] = TransactionStatus(
            clock.slot, None, None, err, TransactionConfirmationStatus.Finalized
        )
        self._block_times[clock.slot] = clock.unix_timestamp
        self.svm.warp_to_slot(clock.slot + 1)  # the next transaction lands in a block of its own
        self.svm.expire_blockhash()
        return self._result(SendTransactionResp(signature))

    def _rpc_getBlockTime(self, params: list) -> dict[str, Any]:
        slot = int(params[0])
        found = self._block_times.get(slot)
        if found is None:
            return {"error": {"code": BLOCK_NOT_AVAILABLE, "message": f"Block not available for slot {slot}"}}
        return self._result(GetBlockTimeResp(found))

    def _rpc_getSignatureStatuses(self, params: list) -> dict[str, Any]:
        statuses = [self._statuses.get(Signature.from_string(s)) for s in params[0]]
        return self._result(GetSignatureStatusesResp(statuses, self._context()))

    def _rpc_getAccountInfo(self, params: list) -> dict[str, Any]:
        account = self.svm.get_account(Pubkey.from_string(params[0]))
        if account is not None and account.lamports == 0:
            account = None
        return {"result": json.loads(GetAccountInfoResp(account, self._context()).to_json())["result"]}

    def _rpc_getProgramAccounts(self, params: list) -> dict[str, Any]:
        owner = Pubkey.from_string(params[0])
        accounts = [RpcKeyedAccount(key, account) for key, account in self.svm.get_program_accounts(owner)]
        return self._result(GetProgramAccountsResp(accounts))


class _Handler(BaseHTTPRequestHandler):
    validator: LoopbackValidator

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        request = json.loads(body)
        requests = request if isinstance(request, list) else [request]
        responses = [{"jsonrpc": "2.0", "id": r.get("id"), **self.validator.handle(r)} for r in requests]
        payload = json.dumps(responses if isinstance(request, list) else responses[0]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        return None


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        number = number * 58 + _B58.index(char)
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return b"\0" * (len(text) - len(text.lstrip("1"))) + raw
