"""Kernel-level hardening of a sandboxed child: minimal root, no privilege, seccomp, per-run cgroup.

Namespaces alone are not a sandbox: a child that is root with every capability can remount /,
unmount the private /proc or setns() back into the host's network. So, once per fork server
(`Hardening.prepare`, in the zygote) and then per run:

- **a minimal root**: the zygote enters a private mount namespace and builds, once, a read-only
  tmpfs root holding read-only binds of the interpreter's prefix, the site-packages directories
  (with any installed `stop_tui` package, which carries the task scorers, covered by an empty
  directory), the venv's bin/, /usr and a few /etc files, and a minimal /dev. Each child copies
  that namespace, mounts its scratch (a tmpfs capped in bytes and inodes, owned by the run's uid)
  on /tmp and a fresh /proc, and pivot_root()s into it: no repository, no tasks, no home, no
  other run's scratch or session, no host /tmp. The scratch lives only in the child's mount
  namespace, so it is gone with the run's last process, whatever killed the engine.
- **no privilege**: a per-run unprivileged uid/gid (no supplementary groups), empty bounding,
  ambient, permitted and effective capability sets, PR_SET_NO_NEW_PRIVS;
- **a seccomp filter** (libseccomp via pyseccomp) that refuses namespace, mount, tracing,
  keyring, BPF, SysV IPC, module and io_uring calls with SCMP_ACT_NOTIFY: the listener fd goes to
  the trusted supervisor, which answers EPERM and records what the kernel saw as a violation;
- **a cgroup per run** (cgroup v2 where its pids and memory controllers are usable, else v1
  pids + memory) capping processes and memory for the run as a whole; a cap hit is recorded.

Every step that was prepared and then fails in a child ends that child before the program
runs (fail closed). What the platform refused at preparation is listed in `notes`.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import signal
import sys
import time

from . import isolation
from .violations import RESOURCE, SYSCALL, Violation

try:  # libseccomp through ctypes; without it the sandbox says "seccomp: unavailable"
    import pyseccomp
except Exception:  # noqa: BLE001 - ImportError or RuntimeError("Unable to find libseccomp")
    pyseccomp = None

_libc = isolation._libc

PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
MNT_DETACH = 2
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41}.get(platform.machine())
SYS_CAPSET = {"x86_64": 126, "aarch64": 91, "riscv64": 91}.get(platform.machine())
SYS_SECCOMP = {"x86_64": 317, "aarch64": 277, "riscv64": 277}.get(platform.machine())
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_NEW_LISTENER = 8
CAP_VERSION_3 = 0x20080522

# uids of sandboxed runs: one per concurrent run, so RLIMIT_NPROC (the fallback when no cgroup
# is available) counts one run's processes, and runs cannot signal or read each other.
RUN_UID_BASE = 200_000
RUN_UID_SPAN = 50_000

# Refused with SCMP_ACT_NOTIFY: the supervisor answers EPERM and records the attempt.
REFUSED_SYSCALLS = (
    # mounts and the root
    "mount", "umount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
    "fsmount", "fsconfig", "fspick", "mount_setattr",
    # namespaces
    "setns", "unshare",
    # other processes' memory and files
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "process_madvise",
    # kernel keyring, BPF, perf, handles
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "open_by_handle_at",
    "name_to_handle_at", "userfaultfd", "lookup_dcookie", "fanotify_init",
    # SysV IPC (shared across runs on a host without IPC namespaces)
    "shmget", "shmat", "shmctl", "shmdt", "msgget", "msgsnd", "msgrcv", "msgctl", "semget",
    "semop", "semtimedop", "semctl",
    # io_uring runs operations without passing through this filter
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    # the machine itself
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
    "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "syslog", "settimeofday",
    "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname", "iopl",
    "ioperm", "vhangup", "nfsservctl", "personality",
)  # not mknod: os.mkfifo needs it, and device nodes need CAP_MKNOD (dropped) and dev mounts (none)
# clone() may create namespaces too (a user namespace needs no privilege at all).
CLONE_NAMESPACE_FLAGS = {
    0x00020000: "CLONE_NEWNS", 0x02000000: "CLONE_NEWCGROUP", 0x04000000: "CLONE_NEWUTS",
    0x08000000: "CLONE_NEWIPC", 0x10000000: "CLONE_NEWUSER", 0x20000000: "CLONE_NEWPID",
    0x40000000: "CLONE_NEWNET", 0x00000080: "CLONE_NEWTIME",
}
MAX_SYSCALL_VIOLATIONS = 50


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source, target, fstype, flags, data=None) -> None:
    _check(_libc.mount(source.encode() if source else None, target.encode(),
                       fstype.encode() if fstype else None, ctypes.c_ulong(flags),
                       data.encode() if data else None), f"mount {target}")


RO_BIND = isolation.MS_BIND | isolation.MS_REMOUNT | isolation.MS_RDONLY | isolation.MS_NOSUID | isolation.MS_NODEV


def _bind_read_only(source: str, target: str) -> None:
    _mount(source, target, None, isolation.MS_BIND | isolation.MS_REC)
    _mount(None, target, None, RO_BIND)


class Hardening:
    """What the fork server prepared once; applied to each child by `setup_child`."""

    def __init__(self) -> None:
        self.root: str | None = None  # the template root, in the zygote's mount namespace
        self.seccomp = None  # (pyseccomp.SyscallFilter, its compiled BPF program), loaded by each child
        self.cgroups: Cgroups | None = None
        self.last_cap = 40
        self.notes: list[str] = []  # what the platform refused, in words
        self.run_uids = False  # whether per-run uids exist here (not in a root-only user namespace)
        self.initial_user_namespace = _uids_mapped(0, 4294967295)
        self._next_uid = 0

    # --- once, in the zygote --------------------------------------------------------------

    @classmethod
    def prepare(cls) -> Hardening:
        self = cls()
        try:
            with open("/proc/sys/kernel/cap_last_cap") as handle:
                self.last_cap = int(handle.read())
        except (OSError, ValueError):
            pass
        if os.geteuid() != 0:
            self.notes.append("not root: no minimal root, per-run uid or cgroups (user namespace if allowed)")
        else:
            self.run_uids = _uids_mapped(RUN_UID_BASE, RUN_UID_SPAN + 1)
            if not self.run_uids:
                self.notes.append("per-run uid: unavailable (a user namespace without those uids), uid 0 without capabilities")
            try:
                self.root = _build_root()
            except OSError as exc:
                self.notes.append(f"minimal root: unavailable ({exc.strerror or exc})")
            self.cgroups = Cgroups.prepare(self.notes)
        try:
            self.seccomp = _build_filter()
        except Exception as exc:  # noqa: BLE001 - no libseccomp, or too old for NOTIFY
            self.notes.append(f"seccomp: unavailable ({exc})")
        return self

    def next_uid(self) -> int:
        self._next_uid = (self._next_uid + 1) % RUN_UID_SPAN
        return RUN_UID_BASE + self._next_uid

    # --- per run, in the child (still privileged) -------------------------------------------

    def setup_child(self, limits, uid: int, cgroup: Cgroup | None) -> tuple[list[str], int | None]:
        """Enter the minimal root, join the run's cgroup, drop every privilege, load the filter.

        Raises on any failure: the caller must then end the child without running the program.
        Returns the protections applied and the seccomp listener fd (for the supervisor)."""
        applied = []
        uid = uid if self.run_uids else os.geteuid()
        if cgroup is not None:  # the supervisor joined it before forking this child
            applied.append(f"cgroup-{cgroup.version}: pids<={limits.processes}, memory<={limits.memory_bytes >> 20} MiB")
        if self.root is not None:  # the supervisor pivoted into the template root
            _child_mounts(limits, uid)
            applied += ["minimal-root", f"scratch-tmpfs<={limits.scratch_bytes >> 20} MiB/{limits.scratch_inodes} inodes"]
        if cgroup is not None:
            with open("/proc/self/oom_score_adj") as handle:
                shielded = int(handle.read()) < 0
            if shielded:  # the supervisor shields itself from the OOM killer; its child may not
                with open("/proc/self/oom_score_adj", "w") as handle:
                    handle.write("0")
        _drop_bounding_and_ambient(self.last_cap)  # needs CAP_SETPCAP: before giving up root
        if self.run_uids and self.root is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            # Changing uid made the process undumpable: its own /proc/self files would belong to
            # root. Its uid is its own (ptrace is refused below, cores are limited to 0 bytes).
            isolation.prctl(PR_SET_DUMPABLE, 1)
            # ... and cleared the parent-death signal: the child must still die with its supervisor.
            # (Had the supervisor died before this, the child's next step, sending it the
            # seccomp listener, fails, and the child exits without running the program.)
            isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
            applied.append("unprivileged-uid")
        _clear_capabilities()
        isolation.prctl(PR_SET_NO_NEW_PRIVS, 1)
        applied += ["no-capabilities", "no-new-privs"]
        listener = None
        if self.seccomp is not None:
            listener = _load_filter(*self.seccomp)
            applied.append("seccomp")
        return applied, listener


# --- the minimal root -------------------------------------------------------------------------

def _uids_mapped(first: int, count: int) -> bool:
    try:
        with open("/proc/self/uid_map") as handle:
            ranges = [tuple(map(int, line.split())) for line in handle if line.strip()]
    except (OSError, ValueError):
        return False
    return any(inside <= first and first + count <= inside + length for inside, _outside, length in ranges)


def _bind_sources() -> tuple[list[str], list[str]]:
    """Directories and files bound read-only into the child's root, and directories to cover."""
    dirs, files, cover = ["/usr"], [], []
    prefix = os.path.realpath(sys.base_prefix)
    if not prefix.startswith("/usr/"):
        dirs.append(prefix)
    for entry in sys.path:
        path = os.path.realpath(entry) if entry else ""
        if not path or not os.path.isdir(path) or os.path.basename(path) not in ("site-packages", "dist-packages"):
            continue
        if path not in dirs and not path.startswith(prefix + "/") and not path.startswith("/usr/"):
            dirs.append(path)
        # An installed stop_tui carries the task scorers (stop_tui/_data/tasks): hide it all.
        if os.path.isdir(os.path.join(path, "stop_tui")):
            cover.append(os.path.join(path, "stop_tui"))
    if sys.prefix != sys.base_prefix:  # a venv: its interpreter link (sys.executable) and config
        venv_bin = os.path.join(sys.prefix, "bin")
        if os.path.isdir(venv_bin):
            dirs.append(venv_bin)
        files.append(os.path.join(sys.prefix, "pyvenv.cfg"))
    for name in ("/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives"):
        if os.path.isdir(name):
            dirs.append(name)
        elif os.path.isfile(name):
            files.append(name)
    return dirs, [f for f in files if os.path.isfile(f)], cover


def _build_root() -> str:
    """In the zygote: a private mount namespace holding a read-only template root."""
    _check(_libc.unshare(isolation.CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _mount(None, "/", None, isolation.MS_REC | isolation.MS_PRIVATE)
    # A tmpfs on /tmp of this namespace only: nothing here is visible to (or left on) the host.
    _mount("stop-tui", "/tmp", "tmpfs", isolation.MS_NOSUID | isolation.MS_NODEV, "size=1m,mode=0755")
    try:
        return _fill_root("/tmp/root")
    except OSError:
        _libc.umount2(b"/tmp", MNT_DETACH)  # the fallbacks need the host's /tmp back
        raise


def _fill_root(root: str) -> str:
    os.mkdir(root, 0o755)
    _mount("stop-tui-root", root, "tmpfs", isolation.MS_NOSUID | isolation.MS_NODEV, "size=1m,mode=0755")
    dirs, files, cover = _bind_sources()
    for source in dirs:
        target = root + source
        os.makedirs(target, exist_ok=True)
        _bind_read_only(source, target)
    for source in files:
        target = root + source
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "w").close()
        _bind_read_only(source, target)
    for path in cover:
        _mount("stop-tui-hidden", root + path, "tmpfs", isolation.MS_RDONLY | isolation.MS_NOSUID | isolation.MS_NODEV, "size=4k,mode=0555")
    for name in ("bin", "sbin", "lib", "lib64", "lib32"):
        host = "/" + name
        if os.path.islink(host):
            os.symlink(os.readlink(host), os.path.join(root, name))
        elif os.path.isdir(host) and not os.path.exists(os.path.join(root, name)):
            os.mkdir(os.path.join(root, name))
            _bind_read_only(host, os.path.join(root, name))
    for name in ("proc", "tmp", "dev", ".old"):
        os.makedirs(os.path.join(root, name), exist_ok=True)
    dev = os.path.join(root, "dev")
    _mount("stop-tui-dev", dev, "tmpfs", isolation.MS_NOSUID | isolation.MS_NOEXEC, "size=4k,mode=0755")
    for name in ("null", "zero", "full", "random", "urandom"):
        if os.path.exists("/dev/" + name):
            open(os.path.join(dev, name), "w").close()
            _mount("/dev/" + name, os.path.join(dev, name), None, isolation.MS_BIND)
            _mount(None, os.path.join(dev, name), None, isolation.MS_BIND | isolation.MS_REMOUNT | isolation.MS_NOSUID | isolation.MS_NOEXEC)
    os.symlink("/proc/self/fd", os.path.join(dev, "fd"))
    os.symlink("/tmp", os.path.join(dev, "shm"))  # POSIX semaphores and shm_open use the scratch
    _mount(None, dev, None, isolation.MS_REMOUNT | isolation.MS_RDONLY | isolation.MS_NOSUID | isolation.MS_NOEXEC)
    _mount(None, root, None, isolation.MS_REMOUNT | isolation.MS_RDONLY | isolation.MS_NOSUID | isolation.MS_NODEV)
    return root


def enter_root(root: str, detach: bool = True) -> None:
    """In a supervisor, ahead of its run: its own copy of the zygote's mount namespace, pivoted
    into the template root, the old root put on /.old and detached (slow, so done ahead too).

    In a user namespace the kernel lets the child mount its /proc only while a full /proc is
    still mounted (the old root's): then the child detaches the old root itself (detach=False)."""
    _check(_libc.unshare(isolation.CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    os.chdir(root)
    if SYS_PIVOT_ROOT is None:
        raise OSError(errno.ENOSYS, f"pivot_root: unknown on {platform.machine()}")
    _check(_libc.syscall(SYS_PIVOT_ROOT, b".", b".old"), "pivot_root")
    os.chdir("/")
    if detach:
        _check(_libc.umount2(b"/.old", MNT_DETACH), "umount2(old root)")


def _child_mounts(limits, uid: int) -> None:
    """In the child, in the supervisor's pivoted namespace: its scratch and a /proc of its own
    PID namespace (only a process inside that namespace can mount it)."""
    _mount("scratch", "/tmp", "tmpfs", isolation.MS_NOSUID | isolation.MS_NODEV,
           f"size={limits.scratch_bytes},nr_inodes={limits.scratch_inodes},mode=0700,uid={uid},gid={uid}")
    _mount("proc", "/proc", "proc", isolation.MS_NOSUID | isolation.MS_NODEV | isolation.MS_NOEXEC)
    if os.path.ismount("/.old"):  # left by enter_root(detach=False)
        _check(_libc.umount2(b"/.old", MNT_DETACH), "umount2(old root)")
    os.chdir("/tmp")


def scratch_violations(limits) -> list[Violation]:
    """In the supervisor, after the run: the scratch tmpfs the child mounted at /tmp, full?"""
    try:
        usage = os.statvfs("/tmp")
    except OSError:
        return []
    found = []
    if usage.f_blocks and usage.f_bfree == 0:
        found.append(Violation(RESOURCE, f"scratch full ({limits.scratch_bytes >> 20} MiB)"))
    if usage.f_files and usage.f_ffree == 0:
        found.append(Violation(RESOURCE, f"scratch inodes used up ({limits.scratch_inodes})"))
    return found


# --- privilege ----------------------------------------------------------------------------------

class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _drop_bounding_and_ambient(last_cap: int) -> None:
    for cap in range(last_cap + 1):
        if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            err = ctypes.get_errno()
            if err == errno.EINVAL:
                continue  # not a capability on this kernel
            if err == errno.EPERM and os.geteuid() != 0:
                break  # an ordinary user (no user namespace): no capability to drop, and
                # no_new_privs keeps it from gaining any through a file's capabilities
            _check(-1, f"PR_CAPBSET_DROP {cap}")
    _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "PR_CAP_AMBIENT_CLEAR_ALL")


def _clear_capabilities() -> None:
    """Empty the permitted, effective and inheritable sets (setresuid from root already did,
    unless the platform kept them, as in a user namespace)."""
    if SYS_CAPSET is not None:
        header = _CapHeader(CAP_VERSION_3, 0)
        data = (_CapData * 2)()
        _check(_libc.syscall(SYS_CAPSET, ctypes.byref(header), ctypes.byref(data)), "capset")


# --- seccomp ------------------------------------------------------------------------------------

def _build_filter():
    if pyseccomp is None:
        raise RuntimeError("libseccomp not found")
    if pyseccomp.get_api() < 5:
        raise RuntimeError("libseccomp or the kernel lacks user notification")
    refused = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    native = pyseccomp.system_arch()
    for name in REFUSED_SYSCALLS:
        if pyseccomp.resolve_syscall(native, name) < 0:
            continue  # not a system call on this architecture
        refused.add_rule(pyseccomp.NOTIFY, name)
    for flag in CLONE_NAMESPACE_FLAGS:
        refused.add_rule(pyseccomp.NOTIFY, "clone", pyseccomp.Arg(0, pyseccomp.MASKED_EQ, flag, flag))
    # clone3 hides its flags in memory a filter cannot read: ENOSYS makes libc fall back to clone.
    refused.add_rule(pyseccomp.ERRNO(errno.ENOSYS), "clone3")
    # libseccomp compiles the rules to BPF on every load (~1 ms); compile once, here, and let
    # each child load the same program with one seccomp() call.
    program = b""
    if SYS_SECCOMP is not None:
        fd = os.memfd_create("seccomp-bpf")
        with os.fdopen(fd, "w+b") as handle:
            refused.export_bpf(handle)
            handle.seek(0)
            program = handle.read()
    fprog = None
    if program:  # the ctypes structures too: building them costs more than the load itself
        instructions = (_SockFilter * (len(program) // 8)).from_buffer_copy(program)
        fprog = _SockFprog(len(instructions), instructions)
        fprog._keep = instructions
    return refused, fprog


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter))]


def _load_filter(refused, fprog) -> int:
    """Load the filter (no_new_privs is already set); returns the user-notification listener."""
    if fprog is None:
        refused.load()
        listener = pyseccomp._libseccomp.seccomp_notify_fd(refused._filter)
    else:
        listener = _libc.syscall(SYS_SECCOMP, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER,
                                 ctypes.byref(fprog))
    if listener < 0:
        _check(-1, "seccomp: no listener")
    return listener


class SyscallWatch:
    """Supervisor side of the filter: answers each refused call with EPERM and records it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.counts: dict[str, int] = {}

    def handle(self) -> None:
        lib = pyseccomp._libseccomp
        # A fresh (zeroed, kernel-sized) request each time: the kernel refuses a dirty one.
        req = ctypes.POINTER(pyseccomp._Notif)()
        resp = ctypes.POINTER(pyseccomp._NotifResp)()
        _check(lib.seccomp_notify_alloc(ctypes.byref(req), ctypes.byref(resp)), "seccomp_notify_alloc")
        try:
            if lib.seccomp_notify_receive(self.fd, req) != 0:
                return  # the caller died meanwhile
            request = req.contents
            name = _syscall_name(request.data.arch, request.data.nr)
            if name == "clone":
                flags = request.data.args[0]
                name += "(" + "|".join(v for k, v in CLONE_NAMESPACE_FLAGS.items() if flags & k) + ")"
            if name in self.counts or len(self.counts) < MAX_SYSCALL_VIOLATIONS:
                self.counts[name] = self.counts.get(name, 0) + 1
            response = resp.contents
            response.id, response.val, response.error, response.flags = request.id, 0, -errno.EPERM, 0
            lib.seccomp_notify_respond(self.fd, resp)  # fails only if the caller is gone
        finally:
            lib.seccomp_notify_free(req, resp)

    def violations(self) -> list[Violation]:
        return [Violation(SYSCALL, name if n == 1 else f"{name} (x{n})") for name, n in self.counts.items()]


def _syscall_name(arch: int, number: int) -> str:
    try:
        return pyseccomp.resolve_syscall(arch, number).decode()
    except (ValueError, AttributeError):
        return f"syscall {number}"


# --- cgroups ------------------------------------------------------------------------------------

class Cgroups:
    """Where per-run cgroups go: cgroup v2 with pids+memory, or the v1 pids and memory hierarchies
    (and cpuacct where mounted). Either way the engine reads each run's CPU time (cpu_clock)."""

    def __init__(self, version: int, bases: dict[str, str]) -> None:
        self.version, self.bases = version, bases

    @classmethod
    def prepare(cls, notes: list[str]) -> Cgroups | None:
        name = f"stop-tui-{os.getpid()}"
        v2 = _cgroup2_mount()
        try:
            if v2 is not None:
                own = _own_cgroup("")
                parent = v2 + (own if own != "/" else "")
                available = open(os.path.join(parent, "cgroup.controllers")).read().split()
                if {"pids", "memory"} <= set(available):
                    _sweep(parent)
                    base = os.path.join(parent, name)
                    os.mkdir(base)
                    try:
                        with open(os.path.join(base, "cgroup.subtree_control"), "w") as handle:
                            handle.write("+pids +memory")
                    except OSError:
                        os.rmdir(base)
                        raise
                    return cls(2, {"": base})
            bases = {}
            for controller in ("pids", "memory", "cpuacct"):
                hierarchy = f"/sys/fs/cgroup/{controller}"
                if not os.path.exists(os.path.join(hierarchy, "cgroup.procs")):
                    if controller == "cpuacct":  # optional: CPU time limits fall back to wall clock
                        notes.append("cgroups: no cpuacct hierarchy, per-call limits are wall-clock")
                        continue
                    raise OSError(errno.ENOENT, f"no cgroup v1 {controller} hierarchy")
                parent = hierarchy + _own_cgroup(controller).rstrip("/")
                _sweep(parent)
                bases[controller] = os.path.join(parent, name)
                os.mkdir(bases[controller])
            return cls(1, bases)
        except OSError as exc:
            notes.append(f"cgroups: unavailable, rlimits only ({exc.strerror or exc})")
            return None

    def cpu_clock(self) -> dict | None:
        """Where the engine reads a run's CPU time (all its processes, from outside the run):
        `{base}/run-{supervisor pid}/{file}`, cpuacct.usage (v1, ns) or cpu.stat usage_usec (v2)."""
        if self.version == 2:
            return {"version": 2, "base": self.bases[""], "file": "cpu.stat"}
        if "cpuacct" in self.bases:
            return {"version": 1, "base": self.bases["cpuacct"], "file": "cpuacct.usage"}
        return None

    def remove(self) -> None:
        """At the fork server's exit (the engine has killed its runs' supervisors, whose
        children die with them); what is still busy is swept by the next fork server."""
        for base in self.bases.values():
            try:
                runs = [name for name in os.listdir(base) if name.startswith("run-")]
            except OSError:
                continue
            for name in runs:
                _kill_members(os.path.join(base, name))
                _rmdir(os.path.join(base, name))
            try:
                os.rmdir(base)
            except OSError:
                pass

    def create(self) -> Cgroup:
        """A run's cgroup, without limits yet (`Cgroup.limit`); usable after pivot_root (it is
        reached through directory descriptors opened here)."""
        name = f"run-{os.getpid()}"  # called in the supervisor: its pid is unique
        made: list[tuple[int, int, str]] = []
        try:
            for controller, base in self.bases.items():
                os.mkdir(os.path.join(base, name))
                base_fd = os.open(base, os.O_DIRECTORY | os.O_CLOEXEC)
                made.append((controller, base_fd, os.open(os.path.join(base, name), os.O_DIRECTORY | os.O_CLOEXEC)))
                # Where the supervisor goes back to before removing the run's cgroup.
                home = os.open(os.path.join(os.path.dirname(base), "cgroup.procs"), os.O_WRONLY | os.O_CLOEXEC)
                made[-1] += (home,)
            return Cgroup(self.version, name, {c: (b, d, h) for c, b, d, h in made})
        except OSError:
            for controller, base_fd, *rest in made:
                for fd in rest:
                    os.close(fd)
                _rmdir(name, base_fd)
                os.close(base_fd)
            raise


class Cgroup:
    def __init__(self, version: int, name: str, fds: dict[str, tuple[int, int, int]]) -> None:
        self.version, self.name, self.fds = version, name, fds  # controller: (base, run, home procs)

    def _controller(self, v1_name: str) -> str:
        return "" if self.version == 2 else v1_name

    def write(self, controller: str, name: str, value, optional: bool = False) -> None:
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CLOEXEC, dir_fd=self.fds[controller][1])
            try:
                os.write(fd, str(value).encode())
            finally:
                os.close(fd)
        except OSError:
            if not optional:
                raise

    def read(self, controller: str, name: str) -> dict[str, int]:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=self.fds[controller][1])
            try:
                pairs = [line.split() for line in os.read(fd, 65536).decode().splitlines()]
            finally:
                os.close(fd)
            return {p[0]: int(p[1]) for p in pairs if len(p) == 2 and p[1].lstrip("-").isdigit()}
        except OSError:
            return {}

    def limit(self, limits, extra_processes: int = 0) -> None:
        if self.version == 2:
            self.write("", "pids.max", limits.processes + extra_processes)
            self.write("", "memory.max", limits.memory_bytes)
            self.write("", "memory.swap.max", 0, optional=True)
        else:
            self.write("pids", "pids.max", limits.processes + extra_processes)
            self.write("memory", "memory.limit_in_bytes", limits.memory_bytes)
            self.write("memory", "memory.memsw.limit_in_bytes", limits.memory_bytes, optional=True)

    def join(self) -> None:
        """Move the calling process in (slow: a cgroup migration waits for an RCU grace period,
        so the zygote's spare supervisors do it before a run is asked for)."""
        for controller in self.fds:
            self.write(controller, "cgroup.procs", 0)

    def violations(self, limits) -> list[Violation]:
        found = []
        pids = self.read(self._controller("pids"), "pids.events")
        if pids.get("max", 0) > 0:
            found.append(Violation(RESOURCE, f"pids.max {limits.processes} ({pids['max']} forks refused)"))
        memory = self.read("", "memory.events") if self.version == 2 else self.read("memory", "memory.oom_control")
        if memory.get("oom_kill", 0) > 0:
            found.append(Violation(RESOURCE, f"memory.max {limits.memory_bytes >> 20} MiB (oom_kill {memory['oom_kill']})"))
        return found

    def leave_and_remove(self) -> None:
        """Kill what is left of the run, move the caller back out, and remove the cgroup."""
        if self.version == 2:
            self.write("", "cgroup.kill", 1, optional=True)
        for controller, (base_fd, run_fd, home_fd) in self.fds.items():
            try:
                os.write(home_fd, b"0")
            except OSError:
                pass
            _rmdir(self.name, base_fd)
            for fd in (base_fd, run_fd, home_fd):
                os.close(fd)
        self.fds = {}


def _rmdir(path: str, dir_fd: int | None = None) -> None:
    for _ in range(250):  # the run's last processes may take a moment to leave
        try:
            os.rmdir(path, dir_fd=dir_fd)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.002)


def _cgroup2_mount() -> str | None:
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            fields = line.split()
            if fields[fields.index("-") + 1] == "cgroup2":
                return fields[4]
    return None


def _own_cgroup(controller: str) -> str:
    with open("/proc/self/cgroup") as handle:
        for line in handle:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if controller in controllers.split(",") or controller == controllers:
                return path
    raise OSError(errno.ENOENT, f"not in a {controller or 'v2'} cgroup")


def _sweep(parent: str) -> None:
    """Remove the cgroups of fork servers that died without cleaning up (SIGKILL)."""
    try:
        entries = os.listdir(parent)
    except OSError:
        return
    for entry in entries:
        if entry.startswith("stop-tui-") and entry[9:].isdigit() and not _alive(int(entry[9:])):
            base = os.path.join(parent, entry)
            for run in os.listdir(base):
                if run.startswith("run-"):
                    _kill_members(os.path.join(base, run))  # a run that outlived its sandbox
                    _rmdir(os.path.join(base, run))
            _rmdir(base)


def _kill_members(path: str) -> None:
    try:
        with open(os.path.join(path, "cgroup.procs")) as handle:
            members = [int(line) for line in handle if line.strip()]
    except (OSError, ValueError):
        return
    for pid in members:
        try:
            os.kill(pid, 9)
        except OSError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


