#!/usr/bin/python3
"""An SMTP sink for the tests: accepts mail on loopback and writes it to files.

Run it with Debian's interpreter (/usr/bin/python3, which has python3-aiosmtpd);
tests normally start it through tests/smtp_sink.sh (smtp_sink_start).

    smtp_sink.py --dir DIR [--plain PORT] [--starttls PORT] [--smtps PORT]
                 [--hang PORT] [--cert PEM --key PEM] [--user U --password P]
                 [--auth-mechs PLAIN,LOGIN] [--auth-required] [--auth-plaintext]
                 [--max-size BYTES] [--port-file FILE]

Listeners (127.0.0.1 only; PORT 0 picks a free port):
  --plain     SMTP without TLS
  --starttls  SMTP that refuses MAIL before STARTTLS (require_starttls)
  --smtps     implicit TLS from the first byte
  --hang      accepts connections and never says anything (timeout tests)
  TLS listeners need --cert and --key (the server certificate and its key).

Authentication: with --user/--password, AUTH PLAIN and LOGIN are offered
(--auth-mechs restricts them) once the connection is encrypted, or also in
plain text with --auth-plaintext; other credentials get 535. --auth-required
refuses MAIL from an unauthenticated client (530).

Every message accepted is written to DIR/NNNN.eml (the bytes received, after
un-dot-stuffing) and DIR/NNNN.env (NNNN from 0001), each written atomically,
.env last, so a .env means the pair is complete. NNNN.env holds:
    MAIL FROM:<addr>
    RCPT TO:<addr>          (one line per recipient, in order)
    HELO: <the name the client gave in EHLO or HELO>
    TLS: yes|no
    AUTH: <user>|-

Failures on demand, read at every command from control files in DIR (so a
test changes them without restarting the sink):
    DIR/fail-mail   "CODE"       answer CODE to MAIL FROM
    DIR/fail-rcpt   "CODE [N]"   answer CODE to every RCPT, or to the Nth of
                                 each transaction only
    DIR/fail-data   "CODE"       answer CODE at the end of the message data
The reply text quotes the address, as real servers do.

Once every listener is up, one line per listener is printed ("plain 40123",
"starttls 40124", ...) and, with --port-file, written to that file
atomically. SIGTERM or SIGINT stops the sink cleanly (exit 0).
"""
import argparse
import asyncio
import os
import signal
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


class Sink:
    def __init__(self, directory):
        self.dir = directory
        self.n = len([f for f in os.listdir(directory) if f.endswith(".env")])

    def control(self, name):
        try:
            with open(os.path.join(self.dir, "fail-" + name)) as f:
                words = f.read().split()
        except FileNotFoundError:
            return None
        if not words:
            return None
        return int(words[0]), (int(words[1]) if len(words) > 1 else None)

    @staticmethod
    def refusal(code, what):
        enhanced = "4.0.0" if code < 500 else "5.0.0"
        return f"{code} {enhanced} {what} refused by the test sink"

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        fail = self.control("mail")
        if fail:
            return self.refusal(fail[0], f"<{address}>")
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        fail = self.control("rcpt")
        if fail and (fail[1] is None or fail[1] == len(envelope.rcpt_tos) + 1):
            return self.refusal(fail[0], f"<{address}>")
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        fail = self.control("data")
        if fail:
            return self.refusal(fail[0], "message")
        self.n += 1
        base = os.path.join(self.dir, "%04d" % self.n)
        write_atomic(base + ".eml", envelope.original_content)
        user = "-"
        if session.authenticated and isinstance(session.auth_data, LoginPassword):
            user = session.auth_data.login.decode("utf-8", "replace")
        env = "MAIL FROM:<%s>\n" % envelope.mail_from
        env += "".join("RCPT TO:<%s>\n" % r for r in envelope.rcpt_tos)
        env += "HELO: %s\n" % session.host_name
        tls = session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
        env += "TLS: %s\n" % ("yes" if tls else "no")
        env += "AUTH: %s\n" % user
        write_atomic(base + ".env", env.encode())
        return "250 OK queued as %04d" % self.n


def make_authenticator(user, password, mechs):
    def authenticator(server, session, envelope, mechanism, auth_data):
        # handled=False makes aiosmtpd answer 535 itself; with the default
        # (handled=True) the client would wait for an answer forever.
        if (mechanism not in mechs or not isinstance(auth_data, LoginPassword)
                or auth_data.login != user.encode()
                or auth_data.password != password.encode()):
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=auth_data)
    return authenticator


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--plain", type=int)
    ap.add_argument("--starttls", type=int)
    ap.add_argument("--smtps", type=int)
    ap.add_argument("--hang", type=int)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--auth-mechs", default="PLAIN,LOGIN")
    ap.add_argument("--auth-required", action="store_true")
    ap.add_argument("--auth-plaintext", action="store_true")
    ap.add_argument("--max-size", type=int, default=32 << 20)
    ap.add_argument("--port-file")
    a = ap.parse_args()
    if a.plain is None and a.starttls is None and a.smtps is None and a.hang is None:
        ap.error("no listener: give --plain, --starttls, --smtps or --hang")
    if (a.starttls is not None or a.smtps is not None) and not (a.cert and a.key):
        ap.error("--starttls and --smtps need --cert and --key")
    if (a.user is None) != (a.password is None):
        ap.error("--user and --password go together")
    os.makedirs(a.dir, exist_ok=True)

    tls = None
    if a.cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(a.cert, a.key)
    sink = Sink(a.dir)
    mechs = [m.strip().upper() for m in a.auth_mechs.split(",") if m.strip()]
    auth = {}
    if a.user is not None:
        auth = dict(authenticator=make_authenticator(a.user, a.password, mechs),
                    auth_exclude_mechanism=[m for m in ("PLAIN", "LOGIN") if m not in mechs],
                    auth_require_tls=not a.auth_plaintext,
                    auth_required=a.auth_required)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def factory(implicit_tls=False, **kw):
        # hostname given: aiosmtpd would otherwise look up the FQDN, slowly
        # on a machine without DNS. aiosmtpd only knows of TLS it started
        # itself (STARTTLS): on the implicit-TLS port, AUTH must be allowed
        # explicitly.
        args = dict(auth)
        if implicit_tls and args:
            args["auth_require_tls"] = False
        return lambda: SMTP(sink, hostname="sink.test", data_size_limit=a.max_size,
                            enable_SMTPUTF8=True, loop=loop, **args, **kw)

    async def hang(reader, writer):
        try:
            await reader.read()
        finally:
            writer.close()

    async def start():
        servers = []
        if a.plain is not None:
            servers.append(("plain", await loop.create_server(factory(), "127.0.0.1", a.plain)))
        if a.starttls is not None:
            servers.append(("starttls", await loop.create_server(
                factory(tls_context=tls, require_starttls=True), "127.0.0.1", a.starttls)))
        if a.smtps is not None:
            servers.append(("smtps", await loop.create_server(
                factory(implicit_tls=True), "127.0.0.1", a.smtps, ssl=tls)))
        if a.hang is not None:
            servers.append(("hang", await asyncio.start_server(hang, "127.0.0.1", a.hang)))
        return servers

    servers = loop.run_until_complete(start())
    lines = "".join("%s %d\n" % (name, srv.sockets[0].getsockname()[1]) for name, srv in servers)
    sys.stdout.write(lines)
    sys.stdout.flush()
    if a.port_file:
        write_atomic(a.port_file, lines.encode())

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def serve():
        await stop.wait()
        for _, srv in servers:
            srv.close()
        for _, srv in servers:
            await srv.wait_closed()

    loop.run_until_complete(serve())
    loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
