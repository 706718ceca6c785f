"""Let daphne close a WebSocket with the RFC 6455 codes a server may send (1008 and the like).

daphne hands an application's `websocket.close` code to autobahn's `sendClose`, which accepts
only 1000 and 3000-4999: for 1008 (policy violation) it raises, the application fails, and
daphne closes with 1011 (internal error) and logs a traceback instead. The codes below are ones
a server may send (RFC 6455 section 7.4.1); they go out through autobahn's `sendCloseFrame`,
which `sendClose` itself ends in. uvicorn's WebSocket servers send them as they are.
"""

from __future__ import annotations

import sys
from typing import Any

# 1001 going away, 1002 protocol error, 1003 unacceptable data, 1007 bad payload data,
# 1008 policy violation, 1009 message too big, 1011 internal error, 1012 service restart,
# 1013 try again later.
SERVER_CODES = frozenset({1001, 1002, 1003, 1007, 1008, 1009, 1011, 1012, 1013})

_patched = False


def allow_server_close_codes() -> None:
    """Patch daphne's protocol once, if daphne is the server of this process (it is imported
    before it serves its first connection); otherwise nothing, and cheap to call again."""
    global _patched  # once per process
    if _patched:
        return
    module = sys.modules.get("daphne.ws_protocol")
    if module is None:
        return
    protocol = module.WebSocketProtocol
    original = protocol.serverClose

    def server_close(self: Any, code: int | None = None) -> None:
        if code in SERVER_CODES:  # (sendCloseFrame ignores a socket already closing)
            self.sendCloseFrame(code=code, isReply=False)
        else:
            original(self, code)

    protocol.serverClose = server_close
    _patched = True
