"""What the registration and scale benchmarks share: cairn run as it runs in
production (unpinned, tokio's default workers, its admin socket and a data
directory of its own), a client of the admin API over the Unix socket, and
the lines that describe the machine and the disk.

Standard library only; the process handling (start, stop by PID, log tail)
is servers.py's.
"""

import http.client
import json
import os
import socket
import subprocess
import time

from .command import BenchError, output
from .dnsclient import free_port
from .servers import Cairn, exit_status


class LiveCairn(Cairn):
    """cairn with an admin socket and a chosen data directory, with as many
    tokio workers and UDP workers as it has CPUs: all of them unless ``cpu``
    pins it (taskset) to fewer."""

    def __init__(self, binary, zones_dir, data_dir, log_level="warn", extra_config="",
                 cpu=None):
        super().__init__("cairn", "cairn", binary, cpu=cpu)
        self.zones_dir, self.data_dir, self.log_level = zones_dir, data_dir, log_level
        # Top-level config text, e.g. a [store] table for a cluster node.
        self.extra_config = extra_config
        self.socket = ""
        self.started_at = 0.0

    def prepare(self, workdir, data, port):
        self.socket = os.path.join(workdir, "admin.sock")
        cfg = os.path.join(workdir, "cairn.toml")
        with open(cfg, "w") as f:
            f.write(f'zones_dir = "{self.zones_dir}"\n'
                    f'data_dir = "{self.data_dir}"\n'
                    f'[dns]\nlisten = ["127.0.0.1:{port}"]\n'
                    f'[admin]\nsocket = "{self.socket}"\n'
                    f'[log]\nlevel = "{self.log_level}"\n'
                    f'{self.extra_config}')
        env = {k: v for k, v in os.environ.items() if k != "TOKIO_WORKER_THREADS"}
        return [self.binary, "serve", "--config", cfg], env

    def start(self, workdir, data=None, port=None):
        self.started_at = time.monotonic()
        super().start(workdir, data, port if port is not None else free_port())

    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def exit_status(self):
        return exit_status(self.proc)


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


def admin_call(socket_path, action, body, timeout=10.0):
    """``POST /<action>`` with a JSON body; the parsed answer. Raises
    BenchError on any status but 200, and OSError when nothing listens."""
    conn = _UnixHTTPConnection(socket_path, timeout)
    try:
        conn.request("POST", f"/{action}", json.dumps(body),
                     {"Content-Type": "application/x-amz-json-1.1"})
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise BenchError(f"{action} answered HTTP {response.status}: {data[:300]!r}")
    return json.loads(data or b"{}")


def proc_status_kib(pid, field_name):
    """A ``Vm…`` field of /proc/PID/status in KiB, or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def disk_line(path):
    """The filesystem under ``path``: device, type, size and use (df), and
    the block device's rotational flag when it can be read."""
    df = output(["df", "-hT", path]).splitlines()
    if len(df) < 2:
        return f"disk: (df {path} failed)"
    dev, fstype, size, used, avail, pct, mount = df[1].split()[:7]
    rotational = ""
    name = os.path.basename(os.path.realpath(dev))
    for candidate in (name, name.rstrip("0123456789")):
        try:
            with open(f"/sys/block/{candidate}/queue/rotational") as f:
                rotational = ", rotational" if f.read().strip() == "1" else ", non-rotational"
            break
        except OSError:
            continue
    options = ""
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                if parts[1] == mount:
                    options = f", mount options {parts[3]}"
    except OSError:
        pass
    return (f"disk: data_dir on {dev} ({fstype}{rotational}) mounted at {mount}, "
            f"{size} total, {avail} free ({pct} used){options}")


def run_json(argv, timeout):
    """Runs a command that prints one JSON line last; that line, parsed."""
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"timed out after {timeout:.0f} s: {' '.join(argv)}")
    lines = [line for line in r.stdout.splitlines() if line.startswith("{")]
    if r.returncode != 0 or not lines:
        raise BenchError(f"failed (status {r.returncode}): {' '.join(argv)}\n"
                         f"{(r.stdout + r.stderr).strip()[-1500:]}")
    return json.loads(lines[-1])


class Etcd:
    """A one-member etcd on loopback ports (Debian's etcd-server), its data
    in ``workdir``; fsync stays on, as in production."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.client, self.peer = free_port(), free_port()
        self.proc = None

    def url(self):
        return f"http://127.0.0.1:{self.client}"

    def store_config(self, prefix):
        return (f'[store]\nbackend = "etcd"\nendpoints = ["{self.url()}"]\n'
                f'prefix = "{prefix}"\n')

    def start(self, timeout=20):
        os.makedirs(self.workdir, exist_ok=True)
        peer = f"http://127.0.0.1:{self.peer}"
        log = open(os.path.join(self.workdir, "etcd.log"), "wb")
        self.proc = subprocess.Popen(
            ["etcd", "--name", "b1", "--data-dir", os.path.join(self.workdir, "data"),
             "--listen-client-urls", self.url(), "--advertise-client-urls", self.url(),
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"b1={peer}", "--logger", "zap", "--log-level", "warn"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"etcd exited ({exit_status(self.proc)}); see {self.workdir}/etcd.log")
            try:
                with socket.create_connection(("127.0.0.1", self.client), timeout=1) as conn:
                    conn.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if b'"health":"true"' in conn.recv(4096):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise BenchError(f"etcd was not healthy within {timeout} s")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def require_built(parser, args):
    """Ends with a usage error naming the build command when the cairn binary
    or the register_load example (``args.cairn``, ``args.register_load``) is
    not built."""
    for binary, flag in ((args.cairn, "--cairn"), (args.register_load, "--register-load")):
        if not os.access(binary, os.X_OK):
            parser.error(f"{binary} not found ({flag}); build with "
                         "`cargo build --release --bin cairn --example register_load`")
