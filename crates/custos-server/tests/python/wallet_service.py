"""A stand-in for the exchange's wallet service, for the `http` wallet connector's tests. It speaks
the protocol of docs/wallet.md, verifies every request from custos with the reference
`standardwebhooks` library, and appends one JSON line per request to a log file.

Usage (PORT 0: any free port, printed on the first line of standard output): wallet_service.py PORT SECRET LOG [FAIL_FIRST_SUBMISSIONS]

- POST /withdrawals            take a withdrawal (idempotent by id); 503 to the first N submissions
- GET  /withdrawals/{id}       {"state": "pending" | "broadcast" | "confirmed" | "failed", ...}; 404 if unknown
- POST /withdrawals/{id}/intercept
                               {"outcome": "intercepted"} while pending, {"outcome": "too_late", "txid"} after
- POST /control/{id}           (the test, unsigned) set what the wallet says about a withdrawal
- POST /control-intercepts     (the test, unsigned) {"fail": N}: the next N intercept calls get 503
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

port, secret, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
fail_submissions = int(sys.argv[4]) if len(sys.argv) > 4 else 0
webhook = Webhook(secret)
lock = threading.Lock()
withdrawals = {}  # id -> {"submission": {...}, "state": {...}}
submissions_seen = 0
failing_intercepts = 0  # the next N intercept calls answer 503 (set by /control-intercepts)


class Wallet(BaseHTTPRequestHandler):
    def _answer(self, status, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method):
        global submissions_seen, failing_intercepts
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        parts = [p for p in self.path.split("/") if p]
        if parts[:1] == ["v1"]:  # custos is configured with the base URL http://…/v1
            parts = parts[1:]
        if parts == ["control-intercepts"] and method == "POST":
            with lock:
                failing_intercepts = json.loads(body)["fail"]
            return self._answer(204)
        if parts[:1] == ["control"] and method == "POST":
            with lock:
                withdrawals.setdefault(parts[1], {"submission": None, "state": {"state": "pending"}})
                withdrawals[parts[1]]["state"] = json.loads(body)
            return self._answer(204)
        headers = {k.lower(): v for k, v in self.headers.items()}
        entry = {"method": method, "path": self.path, "webhook_id": headers.get("webhook-id"), "body": body.decode()}
        try:
            webhook.verify(body, headers, json_parse=False)
            entry["verified"] = True
        except WebhookVerificationError as e:
            entry["verified"] = False
            entry["error"] = str(e)
        status, answer = 401, {"error": "signature"}
        if entry["verified"]:
            with lock:
                status, answer = self._route(method, parts, body)
        entry["status"] = status
        with open(log, "a") as f:
            f.write(json.dumps(entry) + "\n")
        self._answer(status, answer)

    def _route(self, method, parts, body):
        global submissions_seen, failing_intercepts
        if method == "POST" and parts == ["withdrawals"]:
            submissions_seen += 1
            if submissions_seen <= fail_submissions:
                return 503, {"error": "busy"}
            w = json.loads(body)
            withdrawals.setdefault(w["id"], {"submission": w, "state": {"state": "pending"}})
            return 202, {"accepted": w["id"]}
        if len(parts) >= 2 and parts[0] == "withdrawals":
            known = withdrawals.get(parts[1])
            if known is None or known["submission"] is None:
                return 404, {"error": "unknown withdrawal"}
            if method == "GET" and len(parts) == 2:
                return 200, known["state"]
            if method == "POST" and parts[2:] == ["intercept"]:
                if failing_intercepts > 0:
                    failing_intercepts -= 1
                    return 503, {"error": "busy"}
                if known["state"]["state"] == "pending":
                    known["state"] = {"state": "failed", "reason": "intercepted at custos' request"}
                    return 200, {"outcome": "intercepted"}
                return 200, {"outcome": "too_late", "txid": known["state"].get("txid", "")}
        return 404, {"error": "no such route"}

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", port), Wallet)
print(server.server_address[1], flush=True)  # PORT 0 asks the kernel for a free port: say which
server.serve_forever()
