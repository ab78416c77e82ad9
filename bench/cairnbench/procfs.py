"""Process-tree accounting from /proc: CPU time, peak RSS, a core's busy
time, and the start times that tell a process from a later one with its PID."""

import os

CLK_TCK = os.sysconf("SC_CLK_TCK")


def stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    # The command name may contain spaces and parentheses: split after the last ')'.
    return text[text.rindex(")") + 2:].split()


def process_tree(root):
    """The PID ``root`` and all its descendants that are alive now."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(stat_fields(entry)[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def cpu_seconds(root):
    """utime+stime of every thread of every process in the tree (the
    per-process /proc/PID/stat already sums its threads)."""
    total = 0
    for pid in process_tree(root):
        try:
            f = stat_fields(pid)
            total += int(f[11]) + int(f[12])
        except (OSError, ValueError, IndexError):
            pass
    return total / CLK_TCK


def peak_rss_kib(root):
    """VmHWM summed over the process tree, in KiB."""
    total = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
        except (OSError, ValueError):
            pass
    return total


def machine_busy_seconds():
    """Busy time of all CPUs since boot (user, nice, system, irq, softirq)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / CLK_TCK


def core_busy_seconds(cpu):
    """Busy time of one CPU since boot (user, nice, system, irq, softirq)."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                v = [int(x) for x in line.split()[1:]]
                return (v[0] + v[1] + v[2] + v[5] + v[6]) / CLK_TCK
    return 0.0


def with_start_times(pids):
    seen = {}
    for pid in pids:
        try:
            seen[pid] = stat_fields(pid)[19]
        except (OSError, IndexError):
            pass
    return seen


def still_running(pid, started):
    """True while ``pid`` is the same process we saw (same start time) and
    not a zombie."""
    try:
        f = stat_fields(pid)
    except (OSError, IndexError):
        return False
    return f[19] == started and f[0] != "Z"
