// The member side of a relayed transfer (relay.ts): a python3 program run over the controller's own
// SSH connection to each member, `python3 -c AGENT`. Its life is that exec: it exits when the
// controller says `finish` or when its stdin closes (the controller or the connection went away),
// so nothing stays running or listening on a member after a run. No secret is in its argv: the
// one-time tokens arrive on stdin.
//
// stdin: JSON control lines. The first is the header {dest, tmp, mode, sha256, codec, listen,
// token, upstream, size}. `upstream` is "stdin" (frames follow on stdin: 4-byte big-endian length +
// bytes, length 0 = end) or {host, port, token} (another member's listener). Later lines re-point
// the upstream after a loss ({"upstream": …}) or end the agent ({"finish": true}).
// stdout: JSON event lines: listening {port}, lost {offset, why}, received {bytes},
// verified {bytes, sha256}, error {why}.
//
// The wire bytes (compressed or not) are appended to a spool file, which this member's listener
// serves to downstream members from any offset while it grows: a member that lost its upstream
// resumes from another one where it stopped. Downstream connections must send the listener's
// token first (compared in constant time), else they are closed. The listener binds the member's
// own peer address on a port the kernel picks.
export const RELAY_AGENT = String.raw`
import hashlib, hmac, json, os, signal, socket, struct, subprocess, sys, threading

out_lock = threading.Lock()
def emit(**ev):
    with out_lock:
        sys.stdout.write(json.dumps(ev) + "\n")
        sys.stdout.flush()

stdin = sys.stdin.buffer
hdr = json.loads(stdin.readline())
dest, tmp, sha = hdr["dest"], hdr["tmp"], hdr["sha256"]
codec, size = hdr["codec"], hdr["size"]
spool_path = tmp + ".wire" if codec == "zstd" else tmp
installed = False
cond = threading.Condition()
state = {"written": 0, "complete": False, "failed": None, "gen": 0}
os.umask(0o077)

def cleanup():
    for p in {spool_path, tmp}:
        if p == tmp and installed:
            continue
        try:
            os.unlink(p)
        except OSError:
            pass

def on_signal(num, frame):
    cleanup()
    os._exit(1)

for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
    signal.signal(s, on_signal)

def fail(why):
    with cond:
        state["failed"] = why
        cond.notify_all()
    emit(ev="error", why=why)
    cleanup()
    os._exit(1)

if not os.path.isdir(os.path.dirname(dest) or "/"):
    fail("directory %s does not exist" % (os.path.dirname(dest) or "/"))
spool_w = open(spool_path, "xb")
spool_r = os.open(spool_path, os.O_RDONLY)

def append(data):
    spool_w.write(data)
    spool_w.flush()
    with cond:
        state["written"] += len(data)
        cond.notify_all()

def completed():
    with cond:
        state["complete"] = True
        cond.notify_all()
    emit(ev="received", bytes=state["written"])

def read_exact(f, n):
    b = b""
    while len(b) < n:
        c = f.read(n - len(b)) if hasattr(f, "read") else f.recv(n - len(b))
        if not c:
            return None
        b += c
    return b

def frames(f):
    # Yields chunks until the end frame; None at the end when the stream broke before it.
    while True:
        h = read_exact(f, 4)
        if h is None:
            yield None
            return
        n = struct.unpack(">I", h)[0]
        if n == 0:
            return
        b = read_exact(f, n)
        if b is None:
            yield None
            return
        yield b

def pull_tcp(up, gen):
    why = "connection closed before the end of the stream"
    try:
        s = socket.create_connection((up["host"], up["port"]), timeout=30)
        s.settimeout(120)
        s.sendall((up["token"] + " %d\n" % state["written"]).encode())
        f = s.makefile("rb", buffering=1 << 20)
        for c in frames(f):
            if c is None:
                break
            if gen != state["gen"]:
                return
            append(c)
        else:
            completed()
            return
    except OSError as e:
        why = str(e)
    emit(ev="lost", offset=state["written"], why=why)

def serve(conn):
    try:
        conn.settimeout(10)
        line = b""
        while not line.endswith(b"\n") and len(line) < 200:
            c = conn.recv(1)
            if not c:
                return
            line += c
        parts = line.decode("ascii", "replace").split()
        if len(parts) != 2 or not hmac.compare_digest(parts[0], hdr["token"]):
            return
        off = int(parts[1])
        conn.settimeout(300)
        while True:
            with cond:
                while state["written"] <= off and not state["complete"] and state["failed"] is None:
                    cond.wait(5)
                if state["failed"] is not None:
                    return
                avail, done = state["written"], state["complete"]
            while off < avail:
                b = os.pread(spool_r, min(1 << 20, avail - off), off)
                conn.sendall(struct.pack(">I", len(b)) + b)
                off += len(b)
            if done and off >= state["written"]:
                conn.sendall(struct.pack(">I", 0))
                return
    except (OSError, ValueError):
        pass
    finally:
        conn.close()

def listen():
    ls = socket.socket(socket.AF_INET6 if ":" in hdr["listen"] else socket.AF_INET)
    ls.bind((hdr["listen"], 0))
    ls.listen(8)
    emit(ev="listening", port=ls.getsockname()[1])
    while True:
        try:
            c, _ = ls.accept()
        except OSError:
            return
        threading.Thread(target=serve, args=(c,), daemon=True).start()

def spool_blocks():
    # The spool from the start, block by block, as it grows, until the transfer is complete.
    off = 0
    while True:
        with cond:
            while state["written"] <= off and not state["complete"]:
                cond.wait(5)
            avail, done = state["written"], state["complete"]
        while off < avail:
            b = os.pread(spool_r, min(1 << 20, avail - off), off)
            off += len(b)
            yield b
        if done and off >= state["written"]:
            return

def decode():
    # Reads the spool from the start as it grows and writes the file, hashing as it goes.
    global installed
    h = hashlib.sha256()
    total = 0
    out = open(tmp, "xb") if codec == "zstd" else None
    proc = None
    if codec == "zstd":
        proc = subprocess.Popen(["zstd", "-d", "-q", "-c"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        def feed():
            try:
                for b in spool_blocks():
                    proc.stdin.write(b)
            except OSError:
                pass
            finally:
                try:
                    proc.stdin.close()
                except OSError:
                    pass
        threading.Thread(target=guarded(feed), daemon=True).start()
        while True:
            b = proc.stdout.read1(1 << 20)
            if not b:
                break
            h.update(b)
            out.write(b)
            total += len(b)
        if proc.wait() != 0:
            fail("zstd -d failed (exit %d)" % proc.returncode)
        out.close()
    else:
        for b in spool_blocks():
            h.update(b)
            total += len(b)
    spool_w.close()
    got = h.hexdigest()
    if total != size or got != sha:
        fail("sha256 of the copy is %s (%d bytes), expected %s (%d bytes)" % (got, total, sha, size))
    try:
        os.chmod(tmp, int(hdr["mode"], 8))
        if os.path.isdir(dest):
            raise IsADirectoryError("%s is a directory" % dest)
        os.replace(tmp, dest)
    except OSError as e:
        fail("could not install the file: %s" % e)
    installed = True
    emit(ev="verified", bytes=total, sha256=got)

def guarded(fn):
    # An unexpected error in any thread ends the agent with a reason, never a silent hang.
    def run(*args):
        try:
            fn(*args)
        except Exception as e:
            fail("%s: %s" % (type(e).__name__, e))
    return run

def start(up):
    with cond:
        state["gen"] += 1
        gen = state["gen"]
    if up == "stdin":
        for c in frames(stdin):
            if c is None:
                fail("the controller's stream ended early")
            append(c)
        completed()
    else:
        threading.Thread(target=guarded(pull_tcp), args=(up, gen), daemon=True).start()

if hdr.get("listen"):
    threading.Thread(target=guarded(listen), daemon=True).start()
dec = threading.Thread(target=guarded(decode), daemon=True)
dec.start()
start(hdr["upstream"])
while True:
    line = stdin.readline()
    if not line:
        if not installed:
            cleanup()
        os._exit(0 if installed else 1)
    msg = json.loads(line)
    if msg.get("finish"):
        cleanup()
        os._exit(0 if installed else 1)
    if "upstream" in msg:
        start(msg["upstream"])
`;
