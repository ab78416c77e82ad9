"""NSD and Knot as secondaries of a primary on loopback, each configured from
``examples/nsd-secondary.conf`` or ``examples/knot-secondary.conf`` with the
benchmark's ports, directory, zone, primary and TSIG key put in, as
tests/it/transfer/secondaries.rs does: what is measured is the configuration
the README documents. A Knot primary serving a zone file beside cairn is here
too (``KnotPrimary``): the same Knot the DNS benchmark runs, allowed to
transfer with the same key.

Standard library only; processes are started and stopped by servers.py.
"""

import base64
import os
import re

from .paths import REPO_DIR
from .servers import Knot, Server, find_binary

KEY_NAME = "xfrkey"


class TsigKey:
    """One HMAC-SHA256 key shared by a primary and its secondaries, its
    secret in a file only its owner reads (cairn refuses any other)."""

    def __init__(self, workdir):
        self.secret = base64.b64encode(os.urandom(32)).decode()
        self.path = os.path.join(workdir, f"{KEY_NAME}.secret")
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.secret + "\n")

    def cairn_config(self, notify=()):
        """cairn's ``[transfer]``: loopback may transfer, signed with this
        key, and ``notify`` (addresses) hear of every change."""
        targets = ", ".join(f'"{addr}"' for addr in notify)
        return (f'[transfer]\nallow = ["127.0.0.1"]\nnotify = [{targets}]\nkey = "{KEY_NAME}"\n'
                f'[[transfer.keys]]\nname = "{KEY_NAME}"\nalgorithm = "hmac-sha256"\n'
                f'secret_file = "{self.path}"\n')


def _from_example(example, example_port, example_dir, port, workdir, zone, primary, key):
    with open(os.path.join(REPO_DIR, "examples", example)) as f:
        text = f.read()
    return (text.replace(example_port, f"127.0.0.1@{port}")
            .replace(example_dir, workdir)
            .replace("svc.internal", zone)
            .replace("127.0.0.1@1053", f"127.0.0.1@{primary}")
            .replace("SECRET", key.secret))


class Secondary(Server):
    """A secondary of ``primary`` (a port on 127.0.0.1) for ``zone``,
    unpinned; ``log()`` is the server's own log file."""

    example = ""
    log_file = ""

    def __init__(self, name, title, binary, zone, primary, key):
        super().__init__(name, title, binary, cpu=None)
        self.zone, self.primary, self.key = zone, primary, key

    def log(self):
        try:
            with open(os.path.join(self.workdir, self.log_file), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_tail(self, lines=15):
        return super().log_tail(lines) + "\n" + "\n".join(self.log().splitlines()[-lines:])


class NsdSecondary(Secondary):
    log_file = "nsd.log"

    def prepare(self, workdir, data, port):
        text = _from_example("nsd-secondary.conf", "127.0.0.1@5300", "/var/lib/nsd", port,
                             workdir, self.zone, self.primary, self.key)
        # Unprivileged, and no rate limit on the benchmark's polling.
        text = text.replace("server:\n", 'server:\n    username: ""\n    chroot: ""\n'
                            "    rrl-ratelimit: 0\n    rrl-whitelist-ratelimit: 0\n", 1)
        cfg = os.path.join(workdir, "nsd.conf")
        with open(cfg, "w") as f:
            f.write(text)
        return [self.binary, "-d", "-c", cfg], None


class KnotSecondary(Secondary):
    log_file = "knot.log"

    def prepare(self, workdir, data, port):
        os.makedirs(os.path.join(workdir, "db"), exist_ok=True)
        text = _from_example("knot-secondary.conf", "127.0.0.1@5301", "/var/lib/knot", port,
                             workdir, self.zone, self.primary, self.key)
        cfg = os.path.join(workdir, "knot.conf")
        with open(cfg, "w") as f:
            f.write(text)
        return [self.binary, "-c", cfg], None

    def axfr_seconds(self):
        """Knot's own account of the bootstrap AXFR: (seconds, messages,
        bytes) from its 'AXFR, incoming, … finished' line, or None."""
        m = re.search(r"AXFR, incoming, remote [^,]+, finished, ([\d.]+) seconds, "
                      r"(\d+) messages, (\d+) bytes", self.log())
        return (float(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


def nsd_secondary(zone, primary, key):
    return NsdSecondary("nsd", "NSD", find_binary("nsd"), zone, primary, key)


def knot_secondary(zone, primary, key, title="Knot"):
    return KnotSecondary("knot", title, find_binary("knotd"), zone, primary, key)


class KnotPrimary(Knot):
    """The DNS benchmark's Knot (servers.Knot: the zone file, no journal),
    unpinned, and allowing transfers to loopback signed with ``key``."""

    def __init__(self, key):
        super().__init__("knot", "Knot", find_binary("knotd", "/usr/sbin/knotd"), cpu=None)
        self.key = key

    def prepare(self, workdir, data, port):
        argv, env = super().prepare(workdir, data, port)
        cfg = argv[-1]
        with open(cfg) as f:
            text = f.read()
        access = (f"key:\n  - id: {KEY_NAME}\n    algorithm: hmac-sha256\n"
                  f"    secret: {self.key.secret}\n"
                  f"acl:\n  - id: transfer_out\n    address: 127.0.0.1\n    key: {KEY_NAME}\n"
                  f"    action: transfer\n")
        text = text.replace("template:\n", access + "template:\n", 1) + "    acl: transfer_out\n"
        with open(cfg, "w") as f:
            f.write(text)
        return argv, env
