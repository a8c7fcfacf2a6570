"""A hostile MCP stdio server (raw JSON-RPC lines): after its first tools/list answer it sends FLOOD tools/list_changed
notifications at once, and counts the tools/list requests it gets in the file named by argv[1]. With argv[2] ==
"racing" it instead announces a change while answering the first listing, and lists a second tool from then on."""

from __future__ import annotations

import json
import sys
import time

FLOOD = 300


def send(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main() -> None:
    counter = sys.argv[1]
    racing = sys.argv[2:] == ["racing"]
    listed = 0
    for line in sys.stdin:
        message = json.loads(line)
        method, request_id = message.get("method"), message.get("id")
        if method == "initialize":
            result = {
                "protocolVersion": message["params"]["protocolVersion"],
                "capabilities": {"tools": {"listChanged": True}},
                "serverInfo": {"name": "flood", "version": "1"},
            }
            send({"jsonrpc": "2.0", "id": request_id, "result": result})
        elif method == "tools/list":
            listed += 1
            with open(counter, "w") as file:
                file.write(str(listed))
            tools = [
                {"name": name, "inputSchema": {"type": "object", "properties": {}}}
                for name in ("echo", "late")
            ]
            if racing:
                if listed == 1:  # changed after this listing was read, before it was answered
                    send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
                send(
                    {
                        "jsonrpc": "2.0",
                        "id": request_id,
                        "result": {"tools": tools[: 1 if listed == 1 else 2]},
                    }
                )
                continue
            send({"jsonrpc": "2.0", "id": request_id, "result": {"tools": tools[:1]}})
            if listed == 1:  # the client is connected once its first listing is answered
                time.sleep(0.5)
                for _ in range(FLOOD):
                    send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
        elif request_id is not None:
            send({"jsonrpc": "2.0", "id": request_id, "result": {}})


if __name__ == "__main__":
    main()
