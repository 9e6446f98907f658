"""Child-process side of the checker sandbox: a launcher that isolates, and the worker it runs.

``python -m sedna_market.checkers.sandbox_worker --launch <request.json>`` is what the parent
starts.  The launcher puts the worker into new PID, network, IPC and UTS namespaces (when the
kernel lets it: as root, or through an unprivileged user namespace), a mount namespace whose root
is read-only except the probe's temp dir, and drops it to an unprivileged uid when started as root.
It enforces the wall timeout itself and, whatever happened, kills every process the model left
behind before it exits: the namespace's init takes them all with it, and without a PID namespace
the launcher is a child subreaper that sweeps its descendants.  Each protection the platform
refuses is skipped and reported to the parent on an inherited pipe.

``python -m sedna_market.checkers.sandbox_worker <request.json>`` is the worker: it applies its
resource limits, imports the model module, instantiates the class, calls ``predict`` on the probe
inputs and writes ``result.json`` (+ ``outputs.npy``) next to the request.  Nothing is unpickled
by the parent: outputs travel as a plain numeric ``.npy`` read without pickle.  Only the standard
library is imported before the limits are in place.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import signal
import stat
import sys
import time
import traceback
import types
from pathlib import Path
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 8, 4096, 16384, 1 << 18
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID = 1, 2
SYS_MOUNT_SETATTR = 442  # same number on every architecture (added after the syscall table unification)
AT_FDCWD, AT_RECURSIVE = -100, 0x8000
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_CHILD_SUBREAPER = 1, 38, 36
EXIT_SETUP_FAILED = 70


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


_libc: Any = None


def _c(name: str, *args: Any) -> bool:
    """Call a libc function; True when it returned 0 (no exception: every caller can degrade)."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return bool(getattr(_libc, name)(*args) == 0)


def _mount(src: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> bool:
    enc = [v.encode() if v is not None else None for v in (src, target, fstype, data)]
    return _c("mount", enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3])


def _mount_setattr(path: str, attr_set: int, attr_clr: int, flags: int) -> bool:
    attr = _MountAttr(attr_set, attr_clr, 0, 0)
    # syscall() is variadic: pass every number at its full register width
    num = [ctypes.c_long(v) for v in (SYS_MOUNT_SETATTR, AT_FDCWD, flags, ctypes.sizeof(attr))]
    return _c("syscall", num[0], num[1], path.encode(), num[2], ctypes.byref(attr), num[3])


def _prctl(option: int, value: int) -> bool:
    return _c("prctl", option, ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))


def _write(path: str, text: str) -> bool:
    try:
        with open(path, "w") as fh:
            fh.write(text)
        return True
    except OSError:
        return False


def _unshare_namespaces() -> int:
    """Enter new PID/net/IPC/UTS namespaces; returns the flags obtained (0: none)."""
    flags = CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
    if os.geteuid() == 0 and _c("unshare", flags):
        return flags
    # not root (or root without CAP_SYS_ADMIN, e.g. in a container): an unprivileged user
    # namespace grants the capabilities over the new namespaces and nothing outside them
    uid, gid = os.geteuid(), os.getegid()
    if not _c("unshare", flags | CLONE_NEWUSER):
        return 0
    _write("/proc/self/setgroups", "deny")  # absent before Linux 3.19, required after it
    mapped = _write("/proc/self/uid_map", f"{uid} {uid} 1") and _write("/proc/self/gid_map", f"{gid} {gid} 1")
    return flags | CLONE_NEWUSER if mapped else flags


def _reachable(path: str, uid: int) -> bool:
    """Whether ``uid`` (by its owner/other bits) can walk to ``path`` and read it."""
    try:
        parts = Path(path).parts
        for i in range(1, len(parts) + 1):
            st = os.stat(os.path.join(*parts[:i]))
            need = 0o001 if i < len(parts) else (0o005 if stat.S_ISDIR(st.st_mode) else 0o001)
            if st.st_uid != uid and st.st_mode & need != need:
                return False
        return True
    except OSError:
        return False


def _needed_paths(tmp: str) -> list[str]:
    """What the worker must reach: interpreter, stdlib, numpy, this package, the temp dir."""
    paths = [os.path.realpath(sys.executable), os.path.dirname(os.__file__), sys.prefix, tmp]
    paths.append(str(Path(__file__).resolve().parents[2]))
    spec = importlib.util.find_spec("numpy")
    if spec is not None and spec.origin:
        paths.append(str(Path(spec.origin).resolve().parents[1]))
    return [os.path.realpath(p) for p in paths]


def _mask_unreachable(paths: list[str], uid: int) -> None:
    """Cover each directory ``uid`` cannot traverse on the way to ``paths`` (e.g. a 0700 /root
    holding a pyenv interpreter) with a tmpfs that holds only the entries needed, bound back in.
    The rest of that directory stays hidden from the model."""
    masks: dict[str, set[str]] = {}
    for p in paths + [os.path.realpath(e) for e in sys.path if e and os.path.isdir(e)]:
        parts = Path(p).parts
        for i in range(1, len(parts)):
            anc = os.path.join(*parts[:i])
            st = os.stat(anc)
            if st.st_uid != uid and not st.st_mode & 0o001:
                masks.setdefault(anc, set()).add(parts[i])
    # open every original before any tmpfs hides it; shallow masks first so deeper ones land on
    # the bind mounts made for their parents
    fds = {(anc, child): os.open(os.path.join(anc, child), os.O_PATH) for anc, cs in masks.items() for child in cs}
    for anc in sorted(masks, key=lambda a: len(Path(a).parts)):
        if not _mount("tmpfs", anc, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k"):
            continue
        for child in sorted(masks[anc]):
            fd = fds[(anc, child)]
            target = os.path.join(anc, child)
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                os.mkdir(target)
            else:
                open(target, "w").close()
            _mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
    for fd in fds.values():
        os.close(fd)


def _isolate_filesystem(tmp: str, ns: int, uid: int | None) -> list[str]:
    """In a new mount namespace: root read-only and nosuid, the temp dir writable, a private
    /proc and /dev/shm.  Returns the protections that took effect."""
    if not ns or not _c("unshare", CLONE_NEWNS):
        return []
    # without private propagation the mounts below would show up on the host
    if not _mount(None, "/", None, MS_REC | MS_PRIVATE):
        return []
    done = ["mount-ns"]
    if uid is not None:
        try:
            _mask_unreachable(_needed_paths(tmp), uid)
        except OSError:  # the uid drop is then refused by its own reachability check
            pass
    bound = _mount(tmp, tmp, None, MS_BIND)
    if _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC):
        done.append("private-proc")
    if bound and _mount_setattr("/", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, 0, AT_RECURSIVE):
        if _mount_setattr(tmp, 0, MOUNT_ATTR_RDONLY, 0):
            done.append("read-only-root")
    if os.path.isdir("/dev/shm"):
        _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=16m")
    return done


def _drop_privileges(uid: int | None, gid: int | None, tmp: str) -> list[str]:
    """In the worker before exec: the unprivileged uid when the launcher is root, else (root
    that cannot use that uid) a user namespace so no capability applies outside it."""
    done = []
    if uid is not None and gid is not None:
        # the model's uid owns the temp dir only; the package copy and the request in it
        # stay the launcher's, readable but not writable for the model
        euid, egid = os.geteuid(), os.getegid()
        os.chown(tmp, uid, gid)
        try:
            if not all(_reachable(p, uid) for p in _needed_paths(tmp)):
                raise PermissionError("the interpreter is out of reach of the sandbox uid")
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            done.append(f"uid={uid}")
        except OSError:
            os.chown(tmp, euid, egid)
    if os.geteuid() == 0 and _c("unshare", CLONE_NEWUSER):
        done.append("caps-dropped")
    if _prctl(PR_SET_NO_NEW_PRIVS, 1):
        done.append("no-new-privs")
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    return done


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _sweep() -> None:
    """Kill and reap every descendant; orphans re-parent to us (subreaper) so none escapes."""
    me = os.getpid()
    while True:
        for pid in _descendants(me):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            return
        time.sleep(0.005)


def _exit_code(status: int) -> int:
    """A shell-style exit code: the process's own, or 128 + the signal that killed it."""
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _wait(pid: int, timeout: float) -> int | None:
    """Exit code of ``pid`` (128+signal when killed), or None when ``timeout`` passed first."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return _exit_code(status)
        if time.monotonic() >= deadline:
            return None
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


def _start_worker(request_path: str, sb: dict[str, Any], ns: int, info_fd: int) -> int:
    """Set up the file system view, fork the worker and tell the parent what is in force."""
    tmp = sb["tmp"]
    # inside our own user namespace only our own uid is mapped: there is nobody to switch to
    uid = None if ns & CLONE_NEWUSER else sb.get("uid")
    done = [n for f, n in ((CLONE_NEWPID, "pid-ns"), (CLONE_NEWNET, "net-ns"), (CLONE_NEWUSER, "user-ns")) if ns & f]
    done += _isolate_filesystem(tmp, ns, uid)
    if not ns & CLONE_NEWPID:
        done.append("subreaper")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.write(w, json.dumps(_drop_privileges(uid, sb.get("gid"), tmp)).encode())
            os.close(w)
            os.chdir(tmp)
            os.execv(sys.executable, [sys.executable, "-m", "sedna_market.checkers.sandbox_worker", request_path])
        except BaseException:  # noqa: BLE001 - reported on stderr, whose tail the parent keeps
            traceback.print_exc()
        finally:
            os._exit(EXIT_SETUP_FAILED)
    os.close(w)
    with os.fdopen(r, "rb") as fh:
        raw = fh.read()
    done += json.loads(raw) if raw else []
    os.write(info_fd, (json.dumps({"protections": done}) + "\n").encode())
    return pid


def launch(request_path: str) -> int:
    """Run the worker isolated; exit with its code, report a timeout on the info pipe."""
    sb = json.loads(Path(request_path).read_text())["sandbox"]
    info_fd = int(sb["info_fd"])
    os.set_inheritable(info_fd, False)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    ns = _unshare_namespaces() if sb.get("namespaces", True) else 0
    if ns & CLONE_NEWPID:
        pid = os.fork()
        if pid == 0:
            # init of the new PID namespace: when it exits the kernel kills everything in it
            code = EXIT_SETUP_FAILED
            try:
                _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
                worker = _start_worker(request_path, sb, ns, info_fd)
                os.close(info_fd)
                code = _exit_code(os.waitpid(worker, 0)[1])
            except BaseException:  # noqa: BLE001 - reported on stderr, whose tail the parent keeps
                traceback.print_exc()
            finally:
                os._exit(code)
    else:
        pid = _start_worker(request_path, sb, ns, info_fd)
    result = _wait(pid, float(sb["timeout_s"]))
    if result is None:
        os.write(info_fd, b'{"timed_out": true}\n')
    _sweep()
    return 137 if result is None else result


def _limit_resources(req: dict[str, Any]) -> None:
    try:
        import resource

        mem = int(req["memory_mb"]) * 1024 * 1024
        cpu_s = int(req["cpu_s"])
        fsize = int(req.get("file_mb", 256)) * 1024 * 1024
        limits = [
            (resource.RLIMIT_AS, mem),
            (resource.RLIMIT_CPU, cpu_s),
            (resource.RLIMIT_FSIZE, fsize),
            (resource.RLIMIT_CORE, 0),
            (resource.RLIMIT_NOFILE, int(req.get("open_files", 256))),
        ]
        # counted per uid across the host: only meaningful for the sandbox's own uid
        if os.getuid() != 0 and req.get("processes"):
            limits.append((resource.RLIMIT_NPROC, int(req["processes"])))
        for which, value in limits:
            hard = value + 1 if which == resource.RLIMIT_CPU else value
            try:
                resource.setrlimit(which, (value, hard))
            except (ValueError, OSError):  # above the inherited hard limit: keep that one
                pass
    except ImportError:  # non-POSIX: the parent's timeout still applies
        pass


def _install_learnware_shim() -> None:
    """Let learnware-style ``__init__.py`` files import ``learnware.model.BaseModel``."""
    try:
        import learnware.model  # noqa: F401

        return
    except ImportError:
        pass
    from sedna_market.model import BaseModel

    pkg = types.ModuleType("learnware")
    pkg.__path__ = []
    mod = types.ModuleType("learnware.model")
    mod.BaseModel = BaseModel  # type: ignore[attr-defined]
    pkg.model = mod  # type: ignore[attr-defined]
    sys.modules["learnware"] = pkg
    sys.modules["learnware.model"] = mod


def _shape(value: Any) -> list[int] | None:
    if value is None:
        return None
    return [int(v) for v in value]


def _probe_inputs(req: dict[str, Any], model: Any, out_dir: Path) -> Any:
    """What ``predict`` gets: the parent's array (strings become a list of ``str``, as text models
    take them), or random images of the model's declared ``input_shape`` (``image_probe``)."""
    import numpy as np

    probe = req.get("image_probe")
    if probe is None:
        X = np.load(out_dir / "inputs.npy", allow_pickle=False)
        return [str(s) for s in X] if X.dtype.kind == "U" else X
    raw = getattr(model, "input_shape", None)
    try:
        shape = _shape(raw)
    except (TypeError, ValueError):
        shape = None
    if shape is None or len(shape) not in (2, 3) or min(shape) <= 0:
        raise ValueError(
            f"an image model must declare input_shape as (C, H, W) or (H, W) positive ints, got {raw!r}"
        )
    if int(np.prod(shape)) > int(probe["max_values"]):
        raise ValueError(f"input_shape {tuple(shape)} is larger than the checker's {probe['max_values']} values")
    rng = np.random.default_rng(int(probe["seed"]))
    return rng.integers(0, 256, size=(int(probe["rows"]), *shape)).astype(np.float32)


def main(request_path: str) -> int:
    req = json.loads(Path(request_path).read_text())
    out_dir = Path(request_path).parent
    result: dict[str, Any] = {"ok": False}
    _limit_resources(req)
    try:
        import numpy as np

        _install_learnware_shim()
        root = Path(req["package_dir"])
        sys.path.insert(0, str(root))
        spec = importlib.util.spec_from_file_location("_market_model", root / req["module_path"])
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {req['module_path']}")
        module = importlib.util.module_from_spec(spec)
        sys.modules["_market_model"] = module
        spec.loader.exec_module(module)
        # pickled estimators defined in the module are looked up on __main__ when unpickled
        sys.modules["__main__"].__dict__.setdefault(req["class_name"], getattr(module, req["class_name"]))
        model = getattr(module, req["class_name"])(**req["kwargs"])
        result["input_shape"] = _shape(getattr(model, "input_shape", None))
        result["output_shape"] = _shape(getattr(model, "output_shape", None))
        X = _probe_inputs(req, model, out_dir)
        out = model.predict(X)
        if hasattr(out, "detach"):  # torch tensors
            out = out.detach().cpu().numpy()
        arr = np.asarray(out)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise TypeError(f"predict returned non-numeric data of dtype {arr.dtype}")
        np.save(out_dir / "outputs.npy", arr, allow_pickle=False)
        result["ok"] = True
    except ModuleNotFoundError as exc:
        result["missing_module"] = exc.name
        result["error"] = f"{type(exc).__name__}: {exc}"
    except BaseException as exc:  # noqa: BLE001 - any model failure becomes a report
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc(limit=5)[-2000:]
    (out_dir / "result.json").write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(launch(sys.argv[2]) if sys.argv[1] == "--launch" else main(sys.argv[1]))
