#!/usr/bin/env python3
"""A TPM device that stops answering, for the response-deadline tests.

Opens a pseudo-terminal in raw mode, prints the path of its device end
(give it to tpm2-tss as "device:PATH"), and then plays a TPM that answers
the device TCTI's opening probe (a TPM2_GetRandom of 8 bytes, sent each time the device
is opened) and nothing else: every other command is read and never
answered, as a TPM whose firmware hung.  Runs until killed or until --seconds pass.

    silent_tpm.py [--seconds N]     (prints the device path, then serves)
"""
import argparse
import os
import select
import struct
import sys
import time
import tty


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=600.0)
    args = ap.parse_args()

    master, slave = os.openpty()
    tty.setraw(slave)
    print(os.ttyname(slave), flush=True)

    end = time.monotonic() + args.seconds
    buf = b""
    while time.monotonic() < end:
        ready, _, _ = select.select([master], [], [], 0.2)
        if not ready:
            continue
        try:
            data = os.read(master, 4096)
        except OSError:
            continue          # no one has the device open right now
        buf += data
        while len(buf) >= 10:
            size = struct.unpack(">I", buf[2:6])[0]
            if size < 10 or len(buf) < size:
                break
            cmd, buf = buf[:size], buf[size:]
            code = struct.unpack(">I", cmd[6:10])[0]
            if code == 0x17B:                           # TPM2_GetRandom
                body = struct.pack(">H", 8) + b"\x00" * 8
                rsp = struct.pack(">HII", 0x8001, 10 + len(body), 0) + body
                os.write(master, rsp)
            else:
                sys.stderr.write("silent_tpm: command 0x%x not answered\n" % code)
                sys.stderr.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
