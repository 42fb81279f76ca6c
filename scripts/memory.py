#!/usr/bin/env python3
"""Peak memory of `dcconn import` against the simulator, for several dataset sizes.

Usage: scripts/memory.py N [N ...]   (run by `make memory` after `make build`)

For each N: start dcsim with N users on an ephemeral loopback port, run one full import into a
fresh store, and report dcconn's own peak RSS (from wait4, so the simulator is not counted),
the wall time and the import rate. The component cache is warmed first so that compiling the
component is not measured.
"""
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DCCONN = os.path.join(ROOT, "target/release/dcconn")
DCSIM = os.path.join(ROOT, "target/release/dcsim")
PACKAGE = os.path.join(ROOT, "packages/duckcreek.json")


def start_simulator(users, folder):
    port_file = os.path.join(folder, "port")
    env = dict(os.environ, DCSIM_PASSWORD="memory-secret")
    sim = subprocess.Popen([DCSIM, "--users", str(users), "--port-file", port_file],
                           stdout=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 120
    while not (os.path.exists(port_file) and os.path.getsize(port_file) > 0):
        if sim.poll() is not None or time.monotonic() > deadline:
            sys.exit("the simulator did not start")
        time.sleep(0.05)
    with open(port_file) as f:
        return sim, f.read().strip()


def import_once(port, folder):
    env = dict(os.environ, MEMORY_PASSWORD="memory-secret")
    args = [DCCONN, "--db", os.path.join(folder, "store.db"), "import", "-c", PACKAGE,
            "--set", f"SOAP_ENDPOINT=http://127.0.0.1:{port}/dc/services",
            "--set", "USERNAME=dcadmin", "--set-env", "PASSWORD=MEMORY_PASSWORD"]
    started = time.monotonic()
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.monotonic() - started
    out, err = child.stdout.read().decode(), child.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"import failed:\n{out}{err}")
    return usage.ru_maxrss / 1024.0, elapsed, out.strip()


def main():
    sizes = [int(n) for n in sys.argv[1:]] or [10_000, 100_000]
    print(f"{'users':>9}  {'peak RSS (MiB)':>14}  {'wall (s)':>8}  {'accounts/s':>10}")
    for users in sizes:
        with tempfile.TemporaryDirectory() as folder:
            sim, port = start_simulator(users, folder)
            try:
                import_once(port, folder)  # warms the component cache and the simulator's render cache
                for suffix in ("", "-wal", "-shm"):
                    path = os.path.join(folder, "store.db" + suffix)
                    if os.path.exists(path):
                        os.remove(path)
                rss, elapsed, summary = import_once(port, folder)
            finally:
                sim.terminate()
                sim.wait()
        print(f"{users:>9}  {rss:>14.1f}  {elapsed:>8.2f}  {users / elapsed:>10.0f}")
        print(f"           {summary}")


if __name__ == "__main__":
    main()
