#!/usr/bin/python3
"""A plain-text IMAP proxy that kills the client at a chosen filing command.

Used by the exactly-once tests: triage talks to Dovecot through this proxy
(tls: none on 127.0.0.1); the proxy counts the commands that change the
mailbox (UID MOVE, UID COPY, UID STORE, UID EXPUNGE, EXPUNGE, APPEND) and, at
the N-th one, sends SIGKILL to the process whose pid is in PIDFILE:

  --when before   the command never reaches the server;
  --when after    the server executes it and replies, the client dies before
                  it sees the reply (the nastiest window: done, not known).

Each kill is recorded as one line "killed N before|after COMMAND" in --record.
The proxy serves connections until it is killed itself.

usage: imap_kill_proxy.py --port-file F --target PORT --pidfile P
                          --at N --when before|after --record FILE
"""
import argparse
import os
import re
import signal
import socket
import threading

FILING = re.compile(rb"^\S+ (UID (MOVE|COPY|STORE|EXPUNGE)|EXPUNGE|APPEND)\b", re.I)

lock = threading.Lock()
count = 0


def kill_client(a, what):
    try:
        with open(a.pidfile) as f:
            pid = int(f.read().strip())
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError):
        return
    with open(a.record, "a") as f:
        f.write("killed %d %s %s\n" % (a.at, a.when, what))


def serve(a, client):
    server = socket.create_connection(("127.0.0.1", a.target))
    for s in (client, server):  # forwarded line by line: no Nagle delays
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    state = {"tag": None, "what": None, "dead": False}

    def close_both():
        state["dead"] = True
        for s in (client, server):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def upstream():  # client -> server, line by line (literals pass as lines)
        global count
        rf = client.makefile("rb")
        for line in rf:
            m = FILING.match(line)
            if m and not state["dead"]:
                with lock:
                    count += 1
                    hit = count == a.at
                if hit:
                    what = m.group(1).decode().upper()
                    if a.when == "before":
                        kill_client(a, what)
                        close_both()
                        return
                    state["tag"] = line.split(b" ", 1)[0]
                    state["what"] = what
            try:
                server.sendall(line)
            except OSError:
                return
        close_both()

    def downstream():  # server -> client, line by line
        rf = server.makefile("rb")
        for line in rf:
            if state["tag"] and line.startswith(state["tag"] + b" "):
                kill_client(a, state["what"])
                close_both()
                return
            try:
                client.sendall(line)
            except OSError:
                return
        close_both()

    t = threading.Thread(target=upstream, daemon=True)
    t.start()
    downstream()
    t.join()
    client.close()
    server.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--target", type=int, required=True)
    p.add_argument("--pidfile", required=True)
    p.add_argument("--at", type=int, required=True)
    p.add_argument("--when", choices=("before", "after"), required=True)
    p.add_argument("--record", required=True)
    a = p.parse_args()
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % ls.getsockname()[1])
    os.rename(tmp, a.port_file)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(a, c), daemon=True).start()


if __name__ == "__main__":
    main()
