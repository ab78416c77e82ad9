"""The servers: each writes its own config under its work directory and is
run in the foreground, never touching /etc or the distro's services; each
is stopped by its PID (and its children by theirs), also on errors."""

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field

import gen

from . import dnsclient, procfs
from .command import BenchError, output
from .paths import REPO_DIR

SERVER_CPU = "0"


@dataclass
class Server:
    name: str
    title: str
    binary: str
    workdir: str = ""
    port: int = 0
    proc: subprocess.Popen = None
    # pid -> start time of every process seen in the server's tree, so that a
    # PID reused after the server is gone is never signalled.
    pids_seen: dict = field(default_factory=dict)
    # The core the server is pinned to (taskset); None runs it unpinned.
    cpu: str = SERVER_CPU

    def __post_init__(self):
        # The server starts in its work directory, so a relative path (a
        # --cairn target/release/cairn) must be made absolute here.
        if os.sep in self.binary:
            self.binary = os.path.abspath(self.binary)

    def prepare(self, workdir, data, port):
        """Writes the config and returns the command line (without taskset)."""
        raise NotImplementedError

    def version(self):
        raise NotImplementedError

    def start(self, workdir, data, port):
        self.workdir, self.port = workdir, port
        os.makedirs(workdir, exist_ok=True)
        argv, env = self.prepare(workdir, data, port)
        log = open(os.path.join(workdir, "server.log"), "wb")
        pin = ["taskset", "-c", self.cpu] if self.cpu is not None else []
        self.proc = subprocess.Popen(pin + argv, cwd=workdir,
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     env=env, start_new_session=True)
        log.close()

    def log_tail(self, lines=15):
        try:
            with open(os.path.join(self.workdir, "server.log"), errors="replace") as f:
                return "".join(f.readlines()[-lines:]).rstrip() or "(empty log)"
        except OSError:
            return "(no log)"

    def wait_ready(self, data, timeout):
        """Polls the last service's A record until the server answers it
        authoritatively, the process exits, or ``timeout`` seconds pass."""
        name = data.service(data.services)
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.title} exited before answering ({exit_status(self.proc)}); "
                                 f"its log:\n{self.log_tail()}")
            last = dnsclient.query(self.port, name, "A", timeout=0.2)
            if last and last.rcode == "NOERROR" and last.aa and last.answer:
                self.pids_seen.update(procfs.with_start_times(procfs.process_tree(self.proc.pid)))
                return
            time.sleep(0.02)
        raise BenchError(f"{self.title} did not answer {name} A within {timeout:.0f} s "
                         f"(last reply: {last or 'none'}); its log:\n{self.log_tail()}")

    def check_alive(self, data, after):
        """Raises when the server has exited or no longer answers, over UDP
        and over TCP, a query it answered before ``after``."""
        if self.proc.poll() is not None:
            raise BenchError(f"{self.title} exited during {after} ({exit_status(self.proc)}); "
                             f"its log:\n{self.log_tail()}")
        name = data.service(1)
        udp = any(dnsclient.query(self.port, name, "A", timeout=0.5) for _ in range(3))
        tcp = dnsclient.query(self.port, name, "A", tcp=True, timeout=1.0)
        if not (udp and tcp):
            raise BenchError(f"{self.title} stopped answering {name} A over "
                             f"{'UDP and TCP' if not (udp or tcp) else 'UDP' if not udp else 'TCP'} "
                             f"after {after} (the process is still running); its log:\n{self.log_tail()}")

    def stop(self):
        """SIGTERM to the server, SIGKILL after 5 s; then any process of its
        tree still alive (NSD's children), each by its PID."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.pids_seen.update(procfs.with_start_times(procfs.process_tree(self.proc.pid)))
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        deadline = time.monotonic() + 5
        for pid, started in sorted(self.pids_seen.items()):
            while procfs.still_running(pid, started) and time.monotonic() < deadline:
                time.sleep(0.05)
            if procfs.still_running(pid, started):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        self.proc = None


def exit_status(proc):
    code = proc.returncode
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    if code == 0:
        return "status 0: a clean exit, which is what a server does on SIGTERM/SIGINT"
    return f"status {code}"


class Cairn(Server):
    # `[metrics]` on: the answer path counts every query (bench/run --metrics).
    metrics = False

    def prepare(self, workdir, data, port):
        cfg = os.path.join(workdir, "cairn.toml")
        with open(cfg, "w") as f:
            f.write(f'zones_dir = "{data.zones_dir}"\n'
                    f'data_dir = "{os.path.join(workdir, "data")}"\n'
                    f'[dns]\nlisten = ["127.0.0.1:{port}"]\n'
                    f'[admin]\nsocket = "{os.path.join(workdir, "admin.sock")}"\n'
                    f'[log]\nlevel = "warn"\n')
            if self.metrics:
                f.write(f'[metrics]\nlisten = "127.0.0.1:{dnsclient.free_port()}"\n')
        # One worker: tokio's runtime builder honours TOKIO_WORKER_THREADS.
        env = dict(os.environ, TOKIO_WORKER_THREADS="1")
        return [self.binary, "serve", "--config", cfg], env

    def version(self):
        out = (output([self.binary, "--version"]) or "cairn").splitlines()[0]
        rev = output(["git", "-C", REPO_DIR, "rev-parse", "--short", "HEAD"])
        dirty = output(["git", "-C", REPO_DIR, "status", "--porcelain", "--untracked-files=no"])
        built = time.strftime("%Y-%m-%d %H:%M", time.gmtime(os.path.getmtime(self.binary)))
        if not os.path.realpath(self.binary).startswith(os.path.realpath(REPO_DIR) + os.sep) \
                and not os.environ.get("CARGO_TARGET_DIR"):
            # Built elsewhere: this work tree's revision says nothing about it.
            return f"{out} ({self.binary}, built {built} UTC)"
        return (f"{out} (binary built {built} UTC; work tree at git {rev or '?'}"
                f"{'+dirty' if dirty else ''})")


class Nsd(Server):
    def prepare(self, workdir, data, port):
        shutil.copy(data.zone_file, os.path.join(workdir, f"{gen.ZONE}.zone"))
        cfg = os.path.join(workdir, "nsd.conf")
        with open(cfg, "w") as f:
            f.write(f"""server:
    server-count: 1
    ip-address: 127.0.0.1@{port}
    username: ""
    chroot: ""
    zonesdir: "{workdir}"
    database: ""
    zonelistfile: "{workdir}/zone.list"
    xfrdfile: "{workdir}/xfrd.state"
    xfrdir: "{workdir}"
    pidfile: "{workdir}/nsd.pid"
    logfile: "{workdir}/nsd.log"
    verbosity: 0
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: {gen.ZONE}
    zonefile: {gen.ZONE}.zone
""")
        return [self.binary, "-d", "-c", cfg], None

    def log_tail(self, lines=15):
        own = super().log_tail(lines)
        try:
            with open(os.path.join(self.workdir, "nsd.log"), errors="replace") as f:
                return own + "\n" + "".join(f.readlines()[-lines:]).rstrip()
        except OSError:
            return own

    def version(self):
        out = output([self.binary, "-v"], stderr=True)
        return out.splitlines()[0] if out else "NSD"


class Knot(Server):
    def prepare(self, workdir, data, port):
        shutil.copy(data.zone_file, os.path.join(workdir, f"{gen.ZONE}.zone"))
        cfg = os.path.join(workdir, "knot.conf")
        with open(cfg, "w") as f:
            f.write(f"""server:
    rundir: "{workdir}"
    pidfile: "{workdir}/knot.pid"
    listen: 127.0.0.1@{port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "{workdir}"
control:
    listen: "{workdir}/knot.sock"
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: "{workdir}"
    file: "%s.zone"
    journal-content: none
    zonefile-sync: -1
zone:
  - domain: {gen.ZONE}
""")
        return [self.binary, "-c", cfg], None

    def version(self):
        return output([self.binary, "-V"]) or "Knot DNS"


def find_binary(name, *candidates):
    for c in candidates:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/local/sbin")
    if not found:
        raise BenchError(f"{name} not found; run bench/run, which installs it")
    return found


def make_server(name, cairn_bin):
    if name == "cairn":
        if not os.access(cairn_bin, os.X_OK):
            raise BenchError(f"{cairn_bin} not found; build it with `cargo build --release`")
        return Cairn("cairn", "cairn", cairn_bin)
    if name == "cairn-metrics":
        if not os.access(cairn_bin, os.X_OK):
            raise BenchError(f"{cairn_bin} not found; build it with `cargo build --release`")
        server = Cairn("cairn-metrics", "cairn (metrics on)", cairn_bin)
        server.metrics = True
        return server
    if name == "nsd":
        return Nsd("nsd", "NSD", find_binary("nsd"))
    if name == "knot":
        return Knot("knot", "Knot", find_binary("knotd"))
    raise BenchError(f"unknown server {name!r}: --servers takes cairn, cairn-metrics, nsd, knot")
