#!/usr/bin/env python3
"""Worker overhead: wall time of a step printing N lines under `logstream run`
(server on loopback) against the same command writing to a file.

    bench_worker.py --logstream PATH --emitter PATH [--lines N] [--line-bytes N]
                    [--repeat N] [--dir DIR] [--flush-interval DUR] [--server-arg ARG]...
                    [--server-nice N | --server-idle] [--worker-arg ARG]... [--plugins]
                    [--compare PATH] [--hyperfine] [--keep]

Starts a real `logstream server` on 127.0.0.1:0 (fresh data dir under --dir,
--admin-token-file; the admin token makes a worker token, given to `logstream
run` in LOGSTREAM_TOKEN, and a read token for the checks), then runs,
alternately, --repeat times each:

    baseline  /bin/sh -c 'EMITTER --lines N --bytes B > DIR/out.txt'
    worker    logstream run PIPELINE.yml --server URL --no-plugins
              (one step: the same command)

Where the server runs: by default it competes for this machine's CPUs like
any process, so its work on the lines (about as much CPU as the worker's)
counts against the step. --server-idle runs it in the idle scheduling class
(SCHED_IDLE): its threads get only CPU time nothing else wants, the way a
server on another machine takes none from the step, while the HTTP traffic,
the loopback TCP and the server's work stay real. The worker's overhead is
the figure with --server-idle; both are reported in bench/README.md.

--plugins leaves out --no-plugins, to measure with the plugin host (the
worker's default); without it the figures compare with bench/README.md's,
taken before the worker started the plugin host.

Two figures are compared with the baseline:
- the step's own wall time: emit_lines --time-file writes the time from the
  start of its main() until its last write returned and it closed stdout, in
  both commands (under the worker the last <= 1 MiB is then still in the pipe,
  read within a millisecond). This is how much the worker slows the step.
- `logstream run` from start to exit: the worker's start-up (creating the
  build), the step, and the end (the server confirming every line durable,
  the step and build marked finished). Each
worker run is checked: exit 0 and the step holds N + 1 lines on the server (the
worker logs the command itself as "$ COMMAND" before its output).

Memory: the peak RSS of the `logstream run` process alone (VmHWM, sampled from
/proc every 10 ms; the last sample is taken when it exits), and the largest
RssAnon sampled (its own memory; the rest of the RSS are file pages of the
binary and its shared libraries, shared with other processes), plus one run under
`/usr/bin/time -v` when that is installed. (ru_maxrss from wait4() here would
include the RSS of the forked Python interpreter before exec, so it is not
used.) --hyperfine also runs
`hyperfine` on the two commands when it is installed.

Standard library only."""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--logstream", required=True, help="path of the logstream binary")
    p.add_argument("--emitter", required=True, help="path of emit_lines (bench/emit_lines.c)")
    p.add_argument("--lines", type=int, default=1000000)
    p.add_argument("--line-bytes", type=int, default=100)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--dir", default="/tmp", help="parent of the temp dir (data, output file)")
    p.add_argument("--flush-interval", help="passed to the server (default: the server's own)")
    p.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                   help="one more argument for `logstream server` (repeatable), e.g. "
                        "--server-arg=--zstd-level=-5")
    p.add_argument("--server-nice", type=int, default=0, metavar="N",
                   help="run the server at this nice value (all its threads): a diagnostic; a "
                        "CPU running a niced server does not count as idle, so the worker's "
                        "reader is still woken onto the step's CPU: use --server-idle for a "
                        "server on another machine")
    p.add_argument("--server-idle", action="store_true",
                   help="run the server in the idle scheduling class (SCHED_IDLE): it gets only "
                        "CPU time the step and the worker leave, as if it ran on another machine")
    p.add_argument("--worker-arg", action="append", default=[], metavar="ARG",
                   help="one more argument for `logstream run` (repeatable; both binaries with "
                        "--compare), e.g. --worker-arg=--flood-pace-us=0")
    p.add_argument("--plugins", action="store_true",
                   help="run the worker with its plugin host (default: --no-plugins)")
    p.add_argument("--compare", metavar="PATH",
                   help="another logstream binary (e.g. the build before a change): its `run` "
                        "alternates with the first's against the same server, reported apart")
    p.add_argument("--hyperfine", action="store_true", help="also run hyperfine if installed")
    p.add_argument("--keep", action="store_true", help="keep the temp dir")
    a = p.parse_args()
    if a.lines <= 0 or a.line_bytes < 40 or a.repeat < 1:
        p.error("--lines > 0, --line-bytes >= 40, --repeat >= 1")
    if a.server_idle and a.server_nice:
        p.error("--server-nice or --server-idle, not both")
    return a


class Server:
    """A real `logstream server` on a free loopback port, with its admin token
    (--admin-token-file) and a worker and a read token made with it."""

    def __init__(self, logstream, workdir, extra):
        self.data = os.path.join(workdir, "data")
        self.log_path = os.path.join(workdir, "server.log")
        self.admin_token_file = os.path.join(workdir, "admin.token")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [logstream, "server", "--listen", "127.0.0.1:0", "--data", self.data,
             "--admin-token-file", self.admin_token_file] + extra,
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.url = self._wait_url()
        with open(self.admin_token_file) as f:
            self.admin_token = f.read().strip()
        self.worker_token = self.make_token("worker")
        self.read_token = self.make_token("read")

    def _wait_url(self):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open(self.log_path) as f:
                for line in f:  # the admin token line (stderr) may come first
                    if line.endswith("\n") and "listening on http://" in line:
                        return line.split("listening on ", 1)[1].split()[0]
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)
        raise SystemExit(f"bench_worker: the server did not start; see {self.log_path}")

    def _request(self, path, token, body=None):
        req = urllib.request.Request(
            self.url + path, data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)

    def make_token(self, scope):
        """A token of scope made through the tokens API with the admin token."""
        return self._request("/api/v1/tokens", self.admin_token,
                             {"scope": scope, "name": f"bench_worker {scope}"})["token"]

    def get_json(self, path):
        return self._request(path, self.read_token)

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def mem_kib(pid):
    """(VmHWM, RssAnon) of pid in KiB, 0 when it is gone."""
    hwm = anon = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
                elif line.startswith("RssAnon:"):
                    anon = int(line.split()[1])
    except OSError:
        pass
    return hwm, anon


def read_text(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def process_tree(pid):
    """pid and all its descendants, from /proc/PID/task/TID/children."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            todo.extend(int(c) for c in read_text(f"/proc/{p}/task/{tid}/children").split())
    return out


def sample_sched(pid, last):
    """Updates last[(pid, tid)] = (thread name, cpu ns, run-queue wait ns) for
    every thread of pid and its descendants (values only grow)."""
    for p in process_tree(pid):
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            base = f"/proc/{p}/task/{tid}/"
            name = read_text(base + "comm").strip()
            fields = read_text(base + "schedstat").split()
            if name and len(fields) >= 2:
                last[(p, tid)] = (name, int(fields[0]), int(fields[1]))


def sched_by_name(last):
    out = {}
    for name, cpu, wait in last.values():
        c, w, n = out.get(name, (0, 0, 0))
        out[name] = (c + cpu, w + wait, n + 1)
    return out


def own_cpu(pid):
    """(user s, sys s) of process pid itself, its children left out; read from
    /proc while it is a zombie (clock ticks)."""
    fields = read_text(f"/proc/{pid}/stat").rsplit(")", 1)[-1].split()
    if len(fields) < 13:
        return (0.0, 0.0)
    tck = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) / tck, int(fields[12]) / tck)


def run_measured(argv, stdout_path):
    """Runs argv; returns (wall_s, status, rusage, peak VmHWM KiB of argv's
    process, {thread name: (cpu ns, run-queue wait ns, threads)} over argv's
    process tree, plus "_children_until_s": when a child process (the step)
    was last seen, to 10 ms, and "_own_cpu": (user s, sys s) of argv's process
    alone, and "_anon_peak_kib": the largest RssAnon sampled)."""
    os.sync()  # the previous run's dirty pages are written back off the clock
    with open(stdout_path, "w") as out:
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        peak = [0, 0]  # VmHWM, sampled RssAnon
        last = {}
        children_seen = [None]  # seconds after start when a child was last seen
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[:] = map(max, peak, mem_kib(proc.pid))
                if len(process_tree(proc.pid)) > 1:
                    children_seen[0] = time.monotonic() - t0
                sample_sched(proc.pid, last)
                done.wait(0.01)

        sampler = threading.Thread(target=sample)
        sampler.start()
        # wait for the exit without reaping, so VmHWM can be read one last time
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        peak[:] = map(max, peak, mem_kib(proc.pid))
        own = own_cpu(proc.pid)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.monotonic() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        done.set()
        sampler.join()
    sched = sched_by_name(last)
    sched["_children_until_s"] = children_seen[0]
    sched["_own_cpu"] = own
    sched["_anon_peak_kib"] = peak[1]
    return wall, proc.returncode, ru, peak[0], sched


def read_step_seconds(path):
    """The step's own wall time written by emit_lines --time-file (ns)."""
    with open(path) as f:
        ns = int(f.read().strip())
    os.unlink(path)
    return ns / 1e9


def check_worker_run(server, out_path, lines):
    """The build id from `build N URL` on run's stdout; the step must hold every line."""
    with open(out_path) as f:
        text = f.read()
    build = None
    for line in text.splitlines():
        if line.startswith("build "):
            build = int(line.split()[1])
            break
    if build is None:
        raise SystemExit(f"bench_worker: no 'build N' line from logstream run:\n{text}")
    step = server.get_json(f"/api/v1/builds/{build}")["steps"][0]
    expected = lines + 1  # "$ COMMAND", then the output
    if step["lines"] != expected or step["status"] != "success":
        raise SystemExit(f"bench_worker: build {build} step 1 holds {step['lines']} lines "
                         f"(status {step['status']}), expected {expected}")


def summary(xs):
    return {"median": statistics.median(xs), "mean": statistics.fmean(xs), "min": min(xs),
            "max": max(xs), "stdev": statistics.stdev(xs) if len(xs) > 1 else 0.0}


def fmt(s):
    return (f"median {s['median']:.3f} s  mean {s['mean']:.3f} s  min {s['min']:.3f} s  "
            f"max {s['max']:.3f} s  stdev {s['stdev']:.3f} s")


def time_v_max_rss(argv):
    """Maximum resident set size (KiB) reported by /usr/bin/time -v, or None."""
    if not os.path.exists("/usr/bin/time"):
        return None
    r = subprocess.run(["/usr/bin/time", "-v"] + argv, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    for line in r.stderr.splitlines():
        if "Maximum resident set size" in line:
            return int(line.split(":")[1])
    return None


def main():
    a = parse_args()
    workdir = tempfile.mkdtemp(prefix="logstream-bench-worker-", dir=a.dir)
    extra = ["--flush-interval", a.flush_interval] if a.flush_interval else []
    extra += a.server_arg
    server = Server(a.logstream, workdir, extra)
    # threads the server starts later inherit the priority of the thread that starts them
    for tid in os.listdir(f"/proc/{server.proc.pid}/task"):
        if a.server_nice:
            os.setpriority(os.PRIO_PROCESS, int(tid), a.server_nice)
        if a.server_idle:
            os.sched_setscheduler(int(tid), os.SCHED_IDLE, os.sched_param(0))
    # logstream run (also under /usr/bin/time and hyperfine) reads its worker
    # token from the environment; the worker keeps it out of the steps' one
    os.environ["LOGSTREAM_TOKEN"] = server.worker_token
    try:
        step_ns = os.path.join(workdir, "step.ns")
        emit = f"{a.emitter} --lines {a.lines} --bytes {a.line_bytes} --time-file {step_ns}"
        out_file = os.path.join(workdir, "out.txt")
        yml = os.path.join(workdir, "worker.yml")
        with open(yml, "w") as f:
            f.write(f"version: \"1\"\nname: bench-worker\nsteps:\n  - name: emit\n"
                    f"    commands:\n      - '{emit}'\n")
        baseline = ["/bin/sh", "-c", f"{emit} > {out_file}"]
        worker = [a.logstream, "run", yml, "--server", server.url]
        if not a.plugins:
            worker.append("--no-plugins")
        worker += a.worker_arg
        run_out = os.path.join(workdir, "run.out")
        other = ([a.compare] + worker[1:]) if a.compare else None
        cmp = {"wall": [], "step": [], "own": [], "tails": [], "server_cpu": []}

        walls = {"baseline": [], "worker": []}
        steps = {"baseline": [], "worker": []}  # the step's own wall time (emit_lines' clock)
        cpu, hwm, anon, server_cpu, scheds, own, tails = [], [], [], [], [], [], []
        with open("/proc/loadavg") as f:
            load_start = f.read().split()[0]
        for _ in range(a.repeat):
            wall, rc, _, _, _ = run_measured(baseline, os.path.join(workdir, "baseline.out"))
            if rc != 0:
                raise SystemExit("bench_worker: the baseline command failed")
            walls["baseline"].append(wall)
            steps["baseline"].append(read_step_seconds(step_ns))
            s0 = server.cpu_seconds()
            wall, rc, ru, peak, sched = run_measured(worker, run_out)
            server_cpu.append(server.cpu_seconds() - s0)
            if rc != 0:
                raise SystemExit(f"bench_worker: logstream run exited {rc}; see {run_out}")
            check_worker_run(server, run_out, a.lines)
            walls["worker"].append(wall)
            steps["worker"].append(read_step_seconds(step_ns))
            cpu.append(ru.ru_utime + ru.ru_stime)
            hwm.append(peak)
            own.append(sched.pop("_own_cpu"))
            anon.append(sched.pop("_anon_peak_kib"))
            if sched["_children_until_s"] is not None:
                tails.append(wall - sched["_children_until_s"])
            scheds.append((wall, sched))
            if other:
                s0 = server.cpu_seconds()
                wall, rc, _, _, sched = run_measured(other, run_out)
                cmp["server_cpu"].append(server.cpu_seconds() - s0)
                if rc != 0:
                    raise SystemExit(f"bench_worker: {a.compare} run exited {rc}; see {run_out}")
                check_worker_run(server, run_out, a.lines)
                cmp["wall"].append(wall)
                cmp["step"].append(read_step_seconds(step_ns))
                cmp["own"].append(sum(sched["_own_cpu"]))
                if sched["_children_until_s"] is not None:
                    cmp["tails"].append(wall - sched["_children_until_s"])

        b, w = summary(walls["baseline"]), summary(walls["worker"])
        flush = a.flush_interval or "(server default)"
        where = ("SCHED_IDLE (--server-idle)" if a.server_idle else
                 f"nice {a.server_nice}" if a.server_nice else "competing for the CPUs")
        print(f"worker: {a.lines} lines of {a.line_bytes} bytes, {a.repeat} alternating runs each, "
              f"server --flush-interval {flush}, server {where}, "
              f"{'with the plugin host' if a.plugins else 'worker --no-plugins'}"
              f"{' ' + ' '.join(a.worker_arg) if a.worker_arg else ''}")
        sb, sw = summary(steps["baseline"]), summary(steps["worker"])
        print("  the step's own wall time (emit_lines' clock, start to its last write):")
        print(f"    writing to a file:      {fmt(sb)}")
        print(f"    under logstream run:    {fmt(sw)}")
        print(f"    ratio of medians: {sw['median'] / sb['median']:.2f}x (target <= 1.2x)")
        print("  start to exit:")
        print(f"    baseline (sh -c 'emit_lines > file'): {fmt(b)}")
        print(f"    logstream run (server on loopback):   {fmt(w)}")
        print(f"    ratio of medians: {w['median'] / b['median']:.2f}x")
        print(f"  logstream run + its children, CPU (user+sys): median "
              f"{statistics.median(cpu):.3f} s; server CPU per run: median "
              f"{statistics.median(server_cpu):.3f} s")
        print(f"  logstream run's own CPU (its threads, the step left out): median "
              f"{statistics.median(u + s for u, s in own):.2f} s (user "
              f"{statistics.median(u for u, _ in own):.2f} s, sys "
              f"{statistics.median(s for _, s in own):.2f} s; clock ticks)")
        if tails:
            print(f"  after the step's processes ended, until logstream run exited: median "
                  f"{statistics.median(tails):.3f} s (min {min(tails):.3f}, max {max(tails):.3f}; "
                  f"10 ms sampling)")
        if other:
            c, cs = summary(cmp["wall"]), summary(cmp["step"])
            print(f"  --compare {a.compare}, alternating with the above:")
            print(f"    the step's own wall time: {fmt(cs)}; ratio of medians "
                  f"{cs['median'] / sb['median']:.2f}x")
            print(f"    logstream run: {fmt(c)}; ratio of medians {c['median'] / b['median']:.2f}x")
            print(f"    own CPU median {statistics.median(cmp['own']):.2f} s; server CPU per run "
                  f"median {statistics.median(cmp['server_cpu']):.3f} s" +
                  (f"; after the step's processes: median {statistics.median(cmp['tails']):.3f} s"
                   if cmp["tails"] else ""))
        print(f"  logstream run peak RSS (VmHWM of the worker process): max "
              f"{max(hwm) / 1024:.1f} MiB (target < 20 MB); of which its own memory (RssAnon, "
              f"sampled; the rest are pages of the binary and its 40-odd shared libraries): max "
              f"{max(anon) / 1024:.1f} MiB")
        scheds.sort(key=lambda x: x[0])
        wall, sched = scheds[len(scheds) // 2]
        print(f"  threads of the median run ({wall:.3f} s), sampled every 10 ms "
              f"(a thread's last 10 ms may be missing):")
        step_end = sched.pop("_children_until_s")
        if step_end is not None:
            print(f"    the step's processes ran until {step_end:.3f} s; after them "
                  f"(last lines uploaded and made durable, step and build PATCHed, spool "
                  f"removed): {wall - step_end:.3f} s")
        for name, (c, w, n) in sorted(sched.items(), key=lambda kv: -kv[1][0]):
            if c >= 1e6 or w >= 1e6:
                threads = f" ({n} threads)" if n > 1 else ""
                print(f"    {name}{threads}: cpu {c / 1e9:.3f} s, waited {w / 1e9:.3f} s for a CPU")
        tv = time_v_max_rss(worker)
        if tv:
            print(f"  /usr/bin/time -v logstream run: Maximum resident set size {tv} KiB "
                  f"({tv / 1024:.1f} MiB)")
        if a.hyperfine and shutil.which("hyperfine"):
            sys.stdout.flush()
            subprocess.run(["hyperfine", "-N", "-w", "1", "-r", str(a.repeat),
                            "-n", "baseline", " ".join(baseline[:2]) + f" '{baseline[2]}'",
                            "-n", "logstream run", " ".join(worker)])
        with open("/proc/loadavg") as f:
            print(f"  load average (1 min) at the start: {load_start}, at the end: "
                  f"{f.read().split()[0]}")
    finally:
        server.stop()
        if a.keep:
            print(f"bench_worker: kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
