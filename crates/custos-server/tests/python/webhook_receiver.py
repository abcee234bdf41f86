"""A webhook receiver for the integration tests: verifies every delivery with the reference
`standardwebhooks` library and appends one JSON line per request to a log file.

Usage (PORT 0: any free port, printed on the first line of standard output): webhook_receiver.py PORT SECRET LOG [FAIL_FIRST]
Answers 204 to a verified message, 400 to one that does not verify, and 500 to the first
FAIL_FIRST requests whatever they hold (a failing endpoint, to exercise retries).
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

port, secret, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
fail_first = int(sys.argv[4]) if len(sys.argv) > 4 else 0
webhook = Webhook(secret)
seen = 0


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        global seen
        seen += 1
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        entry = {
            "path": self.path,
            "headers": {k: v for k, v in headers.items() if k.startswith("webhook-") or k == "content-type"},
            "body": body.decode(),
        }
        try:
            entry["payload"] = webhook.verify(body, headers)
            entry["verified"] = True
        except WebhookVerificationError as e:
            entry["verified"] = False
            entry["error"] = str(e)
        if seen <= fail_first:
            status = 500
        else:
            status = 204 if entry["verified"] else 400
        entry["status"] = status
        with open(log, "a") as f:
            f.write(json.dumps(entry) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", port), Receiver)
print(server.server_address[1], flush=True)  # PORT 0 asks the kernel for a free port: say which
server.serve_forever()
