"""One escape attempt from inside a Warden sandbox, named by argv[1].

Run as the agent program (`--agent-command`). Prints one JSON line on stdout:
{"attack": NAME, "blocked": true|false, "detail": "..."}. `blocked` is false only when the
attempt achieved what it set out to do.
"""
import ctypes
import errno
import json
import os
import socket
import subprocess
import sys

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

NR = {"io_uring_setup": 425, "bpf": 321, "perf_event_open": 298, "keyctl": 250, "ptrace": 101,
      "process_vm_writev": 311, "mount": 165, "socketpair": 53, "unshare": 272, "setns": 308, "clone3": 435}


def syscall(name, *args):
    """The raw syscall: (result, errno name)."""
    ctypes.set_errno(0)
    result = libc.syscall(ctypes.c_long(NR[name]), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    err = ctypes.get_errno()
    return result, errno.errorcode.get(err, str(err)) if result < 0 else "ok"


def report(blocked, detail):
    print(json.dumps({"attack": ATTACK, "blocked": blocked, "detail": detail}), flush=True)
    sys.exit(0)


def report_and_hold(blocked, detail, release=lambda: None):
    """Reports, then keeps what it took for HOLD seconds (ARG, default 20), as an agent that
    goes on abusing would: wardend's on_limit decides whether it gets that long."""
    print(json.dumps({"attack": ATTACK, "blocked": blocked, "detail": detail}), flush=True)
    import time
    time.sleep(float(ARG or "20"))
    release()
    sys.exit(0)


def denied_syscall(name, *args):
    result, err = syscall(name, *args)
    report(result < 0, f"{name} -> {err}")


def open_for_write(path, flags=os.O_WRONLY):
    try:
        fd = os.open(path, flags, 0o644)
        os.write(fd, b"warden escape\n")
        os.close(fd)
        return False, f"wrote {path}"
    except OSError as error:
        return True, f"{path}: {errno.errorcode.get(error.errno, error.errno)}"


ATTACK = sys.argv[1]
ARG = sys.argv[2] if len(sys.argv) > 2 else ""

if ATTACK in ("af_inet", "af_inet6", "af_netlink", "af_packet"):
    family = {"af_inet": socket.AF_INET, "af_inet6": socket.AF_INET6, "af_netlink": socket.AF_NETLINK,
              "af_packet": socket.AF_PACKET}[ATTACK]
    try:
        socket.socket(family, socket.SOCK_RAW if ATTACK == "af_packet" else socket.SOCK_DGRAM)
        report(False, "socket created")
    except OSError as error:
        report(True, f"socket: {errno.errorcode.get(error.errno)}")
elif ATTACK.startswith("socketpair_"):
    # socketpair(family, SOCK_STREAM, 0, fds) as a raw syscall (53): the filter answers EPERM for
    # every family but AF_UNIX; without it the kernel's own answer (EOPNOTSUPP, EAFNOSUPPORT) or a pair.
    fds = (ctypes.c_int * 2)()
    family = int(ARG)
    kind = socket.SOCK_DGRAM if family in (16, 38, 30) else socket.SOCK_STREAM
    result, err = syscall("socketpair", family, int(kind), 0, fds)
    report(err == "EPERM", f"socketpair({family}) -> {err}")
elif ATTACK == "host_unix_socket":
    try:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(ARG)
        report(False, f"connected to {ARG}")
    except OSError as error:
        report(True, f"connect {ARG}: {errno.errorcode.get(error.errno)}")
elif ATTACK == "io_uring":
    params = ctypes.create_string_buffer(120)
    denied_syscall("io_uring_setup", 8, params)
elif ATTACK == "ptrace":
    denied_syscall("ptrace", 16, 1, 0, 0)  # PTRACE_ATTACH to pid 1 (the sandbox's init)
elif ATTACK == "process_vm_writev":
    data = ctypes.create_string_buffer(8)
    iov = (ctypes.c_void_p * 2)(ctypes.cast(data, ctypes.c_void_p), 8)
    denied_syscall("process_vm_writev", 1, iov, 1, iov, 1, 0)
elif ATTACK == "proc_mem":
    blocked, detail = open_for_write("/proc/1/mem", os.O_RDWR)
    report(blocked, detail)
elif ATTACK == "other_sandbox_files":
    # A path of the host (another run's world) that a sandbox must not see.
    result = subprocess.run(["/bin/cat", ARG], capture_output=True, text=True)
    report(result.returncode != 0, f"cat {ARG}: exit {result.returncode}: {result.stderr.strip()}")
elif ATTACK == "kill_outside":
    try:
        os.kill(int(ARG), 9)
        report(False, f"signalled {ARG}")
    except OSError as error:
        report(True, f"kill {ARG}: {errno.errorcode.get(error.errno)}")
elif ATTACK == "mount":
    denied_syscall("mount", b"none", b"/tmp", b"tmpfs", 0, None)
elif ATTACK == "unshare_user":
    denied_syscall("unshare", 0x10000000)
elif ATTACK == "setns":
    fd = os.open("/proc/self/ns/net", os.O_RDONLY)
    denied_syscall("setns", fd, 0)
elif ATTACK == "clone3":
    args = ctypes.create_string_buffer(88)
    result, err = syscall("clone3", args, 88)
    report(result < 0 and err == "ENOSYS", f"clone3 -> {err}")
elif ATTACK == "tiocsti":
    import fcntl
    try:
        fcntl.ioctl(1, 0x5412, b"x")
        report(False, "pushed a keystroke")
    except OSError as error:
        report(True, f"ioctl TIOCSTI: {errno.errorcode.get(error.errno)}")
elif ATTACK == "bpf":
    attr = ctypes.create_string_buffer(128)
    denied_syscall("bpf", 0, attr, 128)
elif ATTACK == "perf_event_open":
    attr = ctypes.create_string_buffer(128)
    denied_syscall("perf_event_open", attr, 0, -1, -1, 0)
elif ATTACK == "keyctl":
    denied_syscall("keyctl", 0, -3, 0)  # KEYCTL_GET_KEYRING_ID of the session keyring
elif ATTACK == "read_only_bind":
    report(*open_for_write("/usr/bin/warden-was-here", os.O_WRONLY | os.O_CREAT))
elif ATTACK == "proc_sys":
    report(*open_for_write("/proc/sys/kernel/hostname"))
elif ATTACK == "release_agent":
    report(*open_for_write("/sys/fs/cgroup/release_agent"))
elif ATTACK == "symlink_escape":
    os.symlink(ARG, "/tmp/escape")
    try:
        with open("/tmp/escape") as handle:
            report(False, f"read {len(handle.read())} bytes of {ARG}")
    except OSError as error:
        report(True, f"open /tmp/escape -> {ARG}: {errno.errorcode.get(error.errno)}")
elif ATTACK == "fork_bomb":
    children = []
    failure = "none"
    for _ in range(5000):
        try:
            pid = os.fork()
        except OSError as error:
            failure = errno.errorcode.get(error.errno)
            break
        if pid == 0:
            import time
            time.sleep(30)
            os._exit(0)
        children.append(pid)
    def release():
        for pid in children:
            os.kill(pid, 9)
    report_and_hold(failure != "none", f"{len(children)} forks, then {failure}", release)
elif ATTACK == "memory_hog":
    hog = []
    for _ in range(64):
        hog.append(bytearray(64 << 20))  # touched: bytearray zero-fills
    report(False, f"held {len(hog) * 64} MiB")
elif ATTACK == "big_file":
    try:
        with open("/tmp/big", "wb") as handle:
            for _ in range(64):
                handle.write(b"\0" * (1 << 20))
        report(False, "wrote 64 MiB")
    except OSError as error:
        report(True, f"write: {errno.errorcode.get(error.errno)} after {os.path.getsize('/tmp/big')} bytes")
elif ATTACK == "tmp_filler":
    # Files under the size limit each (RLIMIT_FSIZE), until /tmp's own size limit stops them.
    written = 0
    try:
        for i in range(1000):
            with open(f"/tmp/fill-{i}", "wb") as handle:
                for _ in range(3):
                    handle.write(b"\0" * (1 << 20))
                    written += 1 << 20
        report(False, f"wrote {written >> 20} MiB to /tmp")
    except OSError as error:
        report_and_hold(True, f"{errno.errorcode.get(error.errno)} after {written >> 20} MiB")
elif ATTACK == "busy_loop":
    print(json.dumps({"attack": ATTACK, "blocked": False, "detail": "spinning"}), flush=True)  # (report() exits)
    while True:
        pass
elif ATTACK == "fd_exhaustion":
    fds = []
    try:
        while len(fds) < 100000:
            fds.append(os.open("/dev/null", os.O_RDONLY))
        report(False, f"{len(fds)} fds")
    except OSError as error:
        report_and_hold(True, f"{len(fds)} fds, then {errno.errorcode.get(error.errno)}")
elif ATTACK == "leaked_fd":
    fds = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
    # listdir's own fd is the highest; anything else above 3 was leaked to the agent.
    extra = [fd for fd in fds[:-1] if fd > 3]
    report(not extra, f"fds {fds}")
elif ATTACK in ("file_lease", "dir_notify"):
    # A lease on a file the agent owns would make wardend's reads of it fail for the lease-break
    # time; a directory notification watches wardend's work. Both are denied by the filter.
    import fcntl
    if ATTACK == "file_lease":
        fd = os.open("/tmp/leased", os.O_RDWR | os.O_CREAT, 0o644)
        command, argument = 1024, fcntl.F_WRLCK  # F_SETLEASE
    else:
        fd = os.open("/tmp", os.O_RDONLY)
        command, argument = 1026, 0x80000001  # F_NOTIFY: DN_ACCESS | DN_MULTISHOT
    ctypes.set_errno(0)
    result = libc.fcntl(fd, command, argument)
    err = ctypes.get_errno()
    report(result < 0, f"fcntl({command}) -> {errno.errorcode.get(err, 'ok') if result < 0 else 'ok'}")
elif ATTACK == "fcntl_ordinary":
    # What programs use fcntl for still works: descriptor flags, close-on-exec duplicates, locks.
    import fcntl
    fd = os.open("/tmp/locked", os.O_RDWR | os.O_CREAT, 0o644)
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    duplicate = fcntl.fcntl(fd, 1030, 10)  # F_DUPFD_CLOEXEC
    fcntl.lockf(fd, fcntl.LOCK_EX)
    report(False, f"fcntl ok (dup {duplicate})")
elif ATTACK == "syscall_walk":
    # Numbers no syscall has, each a new name to the supervisor: they share one allowance.
    count = int(ARG or "600")
    denied = sum(1 for number in range(1000, 1000 + count) if libc.syscall(ctypes.c_long(number)) < 0)
    report(denied == count, f"{denied} of {count} unknown syscalls denied")
elif ATTACK == "huge_argv":
    # Every exec is recorded one by one; a huge command line must not cost the log its size.
    words = ["x" * 4000] * 60
    completed = subprocess.run(["/bin/true"] + words)
    report(False, f"exec with {len(words)} words of 4000 bytes -> {completed.returncode}")
else:
    report(False, f"unknown attack {ATTACK}")
