#!/usr/bin/python3
"""imap_util: a volunteer's or an inspector's IMAP client for the shell tests.

Run with /usr/bin/python3 (standard library only: imaplib). Connection options
come first, then one command; output is tab-separated, one record per line,
UTF-8. Folder names are given and printed in UTF-8 (this tool has its own
modified UTF-7 codec, independent of daemon/utf7.c). Exit status: 0 done,
1 the server refused or the message was not found, 2 usage.

  imap_util.py [--host H] --port P [--user U] [--password W]
               [--tls none|starttls|implicit] [--ca FILE] COMMAND ARGS...

  (defaults: 127.0.0.1, $DOVECOT_USER or info@example.org, $DOVECOT_PASSWORD
   or secret, tls none; --port defaults to $IMAP_PORT)

Commands:
  folders                   NAME  WIRE-NAME  MESSAGES   (every folder)
  wire-names                WIRE-NAME                   (as LIST returns them)
  create FOLDER             creates and subscribes
  delete FOLDER
  subscribed                NAME                        (LSUB)
  append FOLDER FILE... [--flags "\\Seen $x"] [--date EPOCH]
                            UID  (from APPENDUID), one line per file
  messages FOLDER           UID  FLAGS  MESSAGE-ID  SUBJECT  (decoded)
  count FOLDER MESSAGE-ID   how many messages carry that Message-ID
  flags FOLDER MESSAGE-ID   the flags of that message ("-" when none)
  flag FOLDER MESSAGE-ID +|- FLAGS
                            adds or removes flags ("\\Deleted" without expunging)
  move FOLDER MESSAGE-ID DEST
                            moves that message (UID MOVE), as a volunteer does
  expunge FOLDER            a volunteer's EXPUNGE of what is flagged \\Deleted
  uidvalidity FOLDER        UIDVALIDITY (STATUS)
  seen FOLDER MESSAGE-ID    1 when that message is \\Seen, else 0
"""
import argparse
import base64
import email.header
import email.parser
import imaplib
import os
import re
import ssl
import sys
import time


def mutf7_encode(name):
    out, run = [], []

    def flush():
        if run:
            raw = "".join(run).encode("utf-16-be")
            b64 = base64.b64encode(raw).decode().rstrip("=").replace("/", ",")
            out.append("&" + b64 + "-")
            run.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            run.append(ch)
    flush()
    return "".join(out)


def mutf7_decode(wire):
    def run(m):
        body = m.group(1)
        if body == "":
            return "&"
        b = body.replace(",", "/")
        b += "=" * (-len(b) % 4)
        return base64.b64decode(b).decode("utf-16-be")

    return re.sub(r"&([^-]*)-", run, wire)


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def wire(name):
    return quote(mutf7_encode(name))


class Util:
    def __init__(self, a):
        if a.tls == "implicit":
            ctx = ssl.create_default_context(cafile=a.ca)
            self.m = imaplib.IMAP4_SSL(a.host, a.port, ssl_context=ctx, timeout=10)
        else:
            self.m = imaplib.IMAP4(a.host, a.port, timeout=10)
            if a.tls == "starttls":
                self.m.starttls(ssl.create_default_context(cafile=a.ca))
        self.m.login(a.user, a.password)

    def check(self, typ, data, what):
        if typ != "OK":
            print("%s: %s" % (what, data), file=sys.stderr)
            sys.exit(1)
        return data

    def list_wire(self):
        data = self.check(*self.m.list('""', "*"), what="LIST")
        names = []
        for line in data:
            if line is None:
                continue
            if isinstance(line, tuple):  # a literal name
                names.append(line[1].decode())
                continue
            m = re.match(rb'\((.*?)\) (NIL|"(?:\\.|[^"])*") (.*)$', line)
            name = m.group(3).decode()
            if name.startswith('"'):
                name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            if "\\Noselect" in m.group(1).decode() or "\\NonExistent" in m.group(1).decode():
                continue
            names.append(name)
        return names

    def select(self, folder, readonly=False):
        self.check(*self.m.select(wire(folder), readonly=readonly), what="SELECT " + folder)

    def headers(self, folder):
        """UID, flags, Message-ID, Subject of every message of folder."""
        self.select(folder, readonly=True)
        typ, data = self.m.uid("FETCH", "1:*", "(UID FLAGS)")
        self.check(typ, data, "FETCH")
        flags = {}
        for line in data:
            if line:
                meta = line.decode()
                f = re.search(r"FLAGS \(([^)]*)\)", meta).group(1)
                flags[int(re.search(r"UID (\d+)", meta).group(1))] = f or "-"
        typ, data = self.m.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID SUBJECT)])")
        self.check(typ, data, "FETCH")
        out = []
        for item in data:
            if not isinstance(item, tuple):
                continue
            uid = int(re.search(r"UID (\d+)", item[0].decode()).group(1))
            h = email.parser.BytesHeaderParser().parsebytes(item[1])
            mid = (h.get("Message-ID") or "-").strip()
            subj = h.get("Subject")
            subj = str(email.header.make_header(email.header.decode_header(subj))) if subj else "-"
            out.append((uid, flags.get(uid, "-"), mid, subj))
        return sorted(out)

    def uids_of(self, folder, msgid):
        return [u for u, _, mid, _ in self.headers(folder) if mid == msgid]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=int(os.environ.get("IMAP_PORT", "0")))
    p.add_argument("--user", default=os.environ.get("DOVECOT_USER", "info@example.org"))
    p.add_argument("--password", default=os.environ.get("DOVECOT_PASSWORD", "secret"))
    p.add_argument("--tls", choices=("none", "starttls", "implicit"), default="none")
    p.add_argument("--ca")
    p.add_argument("command")
    p.add_argument("args", nargs="*")
    p.add_argument("--flags", default="")
    p.add_argument("--date", type=int, default=0)
    a = p.parse_intermixed_args()
    if not a.port:
        p.error("--port (or $IMAP_PORT) is required")
    u = Util(a)
    m, args = u.m, a.args

    def need(n):
        if len(args) != n:
            p.error("%s takes %d arguments" % (a.command, n))

    if a.command == "folders":
        need(0)
        for w in sorted(u.list_wire()):
            typ, data = m.status(quote(w), "(MESSAGES)")
            n = re.search(rb"MESSAGES (\d+)", data[0]).group(1).decode() if typ == "OK" else "?"
            print("%s\t%s\t%s" % (mutf7_decode(w), w, n))
    elif a.command == "wire-names":
        need(0)
        for w in sorted(u.list_wire()):
            print(w)
    elif a.command == "create":
        need(1)
        u.check(*m.create(wire(args[0])), what="CREATE")
        u.check(*m.subscribe(wire(args[0])), what="SUBSCRIBE")
    elif a.command == "delete":
        need(1)
        u.check(*m.delete(wire(args[0])), what="DELETE")
    elif a.command == "subscribed":
        need(0)
        data = u.check(*m.lsub('""', "*"), what="LSUB")
        for line in data:
            name = re.match(rb'\(.*?\) (?:NIL|"(?:\\.|[^"])*") (.*)$', line).group(1).decode()
            print(mutf7_decode(name.strip('"')))
    elif a.command == "append":
        if len(args) < 2:
            p.error("append takes a folder and at least one file")
        for path in args[1:]:
            with open(path, "rb") as f:
                msg = f.read()
            date = imaplib.Time2Internaldate(a.date or time.time())
            flags = "(%s)" % a.flags if a.flags else None
            typ, data = m.append(wire(args[0]), flags, date, msg)
            u.check(typ, data, "APPEND")
            uid = re.search(rb"APPENDUID \d+ (\d+)", data[0])
            print(uid.group(1).decode() if uid else "0")
    elif a.command == "messages":
        need(1)
        for uid, flags, mid, subj in u.headers(args[0]):
            # one record per line: a decoded subject may hold line breaks or tabs
            subj = re.sub(r"[\r\n\t]+", " ", subj)
            print("%d\t%s\t%s\t%s" % (uid, flags, mid, subj))
    elif a.command == "count":
        need(2)
        print(len(u.uids_of(args[0], args[1])))
    elif a.command in ("flags", "seen"):
        need(2)
        found = [f for _, f, mid, _ in u.headers(args[0]) if mid == args[1]]
        if not found:
            print("no message %s in %s" % (args[1], args[0]), file=sys.stderr)
            sys.exit(1)
        print(found[0] if a.command == "flags" else int("\\Seen" in found[0].split()))
    elif a.command == "flag":
        need(4)
        uids = u.uids_of(args[0], args[1])
        if not uids:
            sys.exit(1)
        u.select(args[0])
        op = "+FLAGS.SILENT" if args[2] == "+" else "-FLAGS.SILENT"
        u.check(*m.uid("STORE", ",".join(map(str, uids)), op, "(%s)" % args[3]), what="STORE")
    elif a.command == "move":
        need(3)
        uids = u.uids_of(args[0], args[1])
        if not uids:
            sys.exit(1)
        u.select(args[0])
        u.check(*m.uid("MOVE", ",".join(map(str, uids)), wire(args[2])), what="MOVE")
    elif a.command == "expunge":
        need(1)
        u.select(args[0])
        u.check(*m.expunge(), what="EXPUNGE")
    elif a.command == "uidvalidity":
        need(1)
        typ, data = m.status(wire(args[0]), "(UIDVALIDITY)")
        u.check(typ, data, "STATUS")
        print(re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1).decode())
    else:
        p.error("unknown command " + a.command)
    m.logout()


if __name__ == "__main__":
    main()
