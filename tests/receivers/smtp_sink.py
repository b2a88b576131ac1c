"""A real SMTP server on loopback for tests/api/email.rs (aiosmtpd).

    smtp_sink.py [--user U --password P] [--starttls DIR] [--fail-first N] [--reject]

Prints one JSON line when it listens: {"port": N, "ca": PATH or null}; then one JSON line per
message it accepts: from, to, subject, text, html, message_id, auth (the user who
authenticated, or null), tls (whether the session was encrypted), and the raw headers.

--starttls DIR   offer STARTTLS (required before MAIL) with a certificate for 127.0.0.1 from a
                 throwaway CA (trustme); the CA's PEM is written to DIR/ca.pem for the server
                 under test to trust (`mail_smtp_ca_file`).
--user/--password  require AUTH (PLAIN or LOGIN) with these.
--fail-first N   answer the first N messages `451` (try again later).
--reject         answer every message `550` (a permanent refusal).
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import ssl
import sys
import threading
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


# aiosmtpd warns of its own deprecated attributes as it authenticates; not ours to fix.
warnings.filterwarnings("ignore", category=DeprecationWarning)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--starttls")
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--reject", action="store_true")
    args = parser.parse_args()

    lock = threading.Lock()
    state = {"failed": 0}

    def say(obj):
        with lock:
            sys.stdout.write(json.dumps(obj) + "\n")
            sys.stdout.flush()

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            if args.reject:
                return "550 5.7.1 Not accepted here"
            if state["failed"] < args.fail_first:
                state["failed"] += 1
                return "451 4.3.0 Try again later"
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            text = message.get_body(preferencelist=("plain",))
            html = message.get_body(preferencelist=("html",))
            say({
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "subject": str(message["subject"] or ""),
                "message_id": str(message["message-id"] or ""),
                "text": text.get_content() if text is not None else None,
                "html": html.get_content() if html is not None else None,
                "auth": (session.auth_data.login.decode()
                         if isinstance(session.auth_data, LoginPassword) else None),
                "tls": session.ssl is not None,
                "headers": {k.lower(): str(v) for k, v in message.items()},
            })
            return "250 OK"

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login.decode() == args.user
              and auth_data.password.decode() == args.password)
        return AuthResult(success=ok, auth_data=auth_data if ok else None)

    kwargs = {}
    ca_path = None
    if args.starttls:
        import trustme
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        ca_path = os.path.join(args.starttls, "ca.pem")
        ca.cert_pem.write_to_path(ca_path)
        kwargs.update(tls_context=context, require_starttls=True)
    if args.user:
        kwargs.update(authenticator=authenticator, auth_required=True,
                      auth_require_tls=bool(args.starttls))
    # A free port (aiosmtpd checks it is up by connecting to the port it was given, so it
    # cannot be 0).
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    say({"port": port, "ca": ca_path})
    # Until the test kills us.
    threading.Event().wait()


if __name__ == "__main__":
    main()
