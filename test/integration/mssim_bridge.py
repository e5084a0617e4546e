#!/usr/bin/env python3
"""A Microsoft-simulator (mssim) front for swtpm, for simulator_client.sh.

swtpm speaks raw TPM commands on its server port; the mssim protocol frames
them.  This bridge listens on a free port pair P (TPM) and P+1 (platform),
prints P, and:

  TPM port:      u32 TPM_SEND_COMMAND (8), u8 locality, u32 length, command
                 -> the command goes to swtpm (a connection per command);
                 answered with u32 length, the response, u32 0.
                 u32 TPM_SESSION_END (20) ends the connection.
  platform port: u32 command -> u32 0 (TPM_SIGNAL_POWER_ON 1,
                 TPM_SIGNAL_NV_ON 11, ...); TPM_SESSION_END ends it.

Every event is logged, one line each, to the file given by --log
("platform 1", "send locality 0 length 22", "session-end tpm", ...).

usage: mssim_bridge.py --swtpm-port N --log FILE
"""
import argparse
import random
import socket
import struct
import sys
import threading

SEND_COMMAND = 8
SESSION_END = 20


def read_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class Bridge:
    def __init__(self, swtpm_port, log_path):
        self.swtpm_port = swtpm_port
        self.log_file = open(log_path, "a", buffering=1)
        self.lock = threading.Lock()

    def log(self, line):
        with self.lock:
            self.log_file.write(line + "\n")

    def forward(self, command):
        with socket.create_connection(("127.0.0.1", self.swtpm_port)) as s:
            s.sendall(command)
            header = read_exact(s, 10)
            if header is None:
                raise OSError("swtpm closed the connection")
            size = struct.unpack(">I", header[2:6])[0]
            rest = read_exact(s, size - 10) if size > 10 else b""
            if rest is None:
                raise OSError("swtpm closed the connection")
            return header + rest

    def serve_tpm(self, conn):
        with conn:
            while True:
                word = read_exact(conn, 4)
                if word is None:
                    self.log("eof tpm")
                    return
                cmd = struct.unpack(">I", word)[0]
                if cmd == SESSION_END:
                    self.log("session-end tpm")
                    return
                if cmd != SEND_COMMAND:
                    self.log("unknown tpm %d" % cmd)
                    return
                head = read_exact(conn, 5)
                if head is None:
                    return
                locality = head[0]
                length = struct.unpack(">I", head[1:5])[0]
                command = read_exact(conn, length)
                if command is None:
                    return
                self.log("send locality %d length %d" % (locality, length))
                response = self.forward(command)
                conn.sendall(struct.pack(">I", len(response)) + response
                             + struct.pack(">I", 0))

    def serve_platform(self, conn):
        with conn:
            while True:
                word = read_exact(conn, 4)
                if word is None:
                    self.log("eof platform")
                    return
                cmd = struct.unpack(">I", word)[0]
                if cmd == SESSION_END:
                    self.log("session-end platform")
                    return
                self.log("platform %d" % cmd)
                conn.sendall(struct.pack(">I", 0))

    def accept_loop(self, listener, serve):
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()


def listen_pair():
    for _ in range(200):
        port = 20000 + 2 * random.randrange(5000)
        socks = []
        try:
            for p in (port, port + 1):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                socks.append(s)
                s.bind(("127.0.0.1", p))
                s.listen(8)
            return port, socks[0], socks[1]
        except OSError:
            for s in socks:
                s.close()
    sys.exit("mssim_bridge: no free port pair")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--swtpm-port", type=int, required=True)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    bridge = Bridge(args.swtpm_port, args.log)
    port, tpm, platform = listen_pair()
    threading.Thread(target=bridge.accept_loop,
                     args=(platform, bridge.serve_platform),
                     daemon=True).start()
    print(port, flush=True)
    bridge.accept_loop(tpm, bridge.serve_tpm)


if __name__ == "__main__":
    main()
