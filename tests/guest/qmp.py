#!/usr/bin/env python3
"""A small QMP client for the guest scenarios (host side).

  qmp.py SOCKET COMMAND...      run each COMMAND (JSON text) on the QMP
                                server at the unix SOCKET and print its
                                response, one JSON object a line; exit 1
                                if one fails
  qmp.py --events SOCKET FILE   append every event to FILE, one JSON object
                                a line, until QEMU closes the socket
"""
import json
import socket
import sys
import time


def connect(path):
    for _ in range(300):
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(path)
            break
        except OSError:
            sock.close()
            time.sleep(0.1)
    else:
        sys.exit(f"qmp.py: cannot connect to {path}")
    f = sock.makefile('rw')
    json.loads(f.readline())            # the greeting
    f.write(json.dumps({'execute': 'qmp_capabilities'}) + '\n')
    f.flush()
    while 'return' not in json.loads(f.readline()):
        pass
    return sock, f


def commands(path, cmds):
    sock, f = connect(path)
    rc = 0
    for text in cmds:
        f.write(json.dumps(json.loads(text)) + '\n')
        f.flush()
        while True:
            resp = json.loads(f.readline())
            if 'return' in resp or 'error' in resp:
                break
        print(json.dumps(resp), flush=True)
        if 'error' in resp:
            rc = 1
    sock.close()
    return rc


def events(path, out):
    sock, f = connect(path)
    with open(out, 'a') as o:
        for line in f:
            if '"event"' in line:
                o.write(line.strip() + '\n')
                o.flush()
    return 0


if __name__ == '__main__':
    if len(sys.argv) == 4 and sys.argv[1] == '--events':
        sys.exit(events(sys.argv[2], sys.argv[3]))
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sys.exit(commands(sys.argv[1], sys.argv[2:]))
