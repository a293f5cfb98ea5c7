"""Benchmark: import time of each Lambda handler module, against its bare dependencies.

For every module named by a ``Handler:`` in template.yaml, in a fresh interpreter each time:

- ours: ``import videojobs.handlers.<name>``, timed with ``time.perf_counter`` (wall) and
  ``time.process_time`` (CPU);
- deps: importing exactly the third-party modules that the handler import pulled in (the
  ``sys.modules`` entries it added whose top-level package lives in site-packages), in the
  order they were first imported, without any of our code.

The difference is what our code costs at cold start: our modules, the work they do at import
(pydantic models, type adapters, routers built at module level) and any standard-library
module only they import. Both sides read bytecode from one cache (``PYTHONPYCACHEPREFIX`` in
a temporary directory, filled by an unmeasured run of each side), so neither pays for
compiling. They run ``--runs`` times each, alternating, and medians are compared. For
information, ours is also timed with our own modules compiled from source on every import
(what a package shipped without ``__pycache__`` costs) and deps still cached.

A handler that misses the target is explained from ``python -X importtime``: the modules
outside the baseline with the most self time.

Targets (exit 1 when one is missed or a handler cannot be imported):

- every handler: ours <= 1.25 x deps (wall-clock medians);
- ``videojobs.handlers.provider_webhook`` does not import ``httpx``.

    .venv/bin/python bench/cold_start.py [--runs 15] [--only videojobs.handlers.steps ...]

Probes run with ``LAMBDA_TASK_ROOT`` set, so that Powertools Tracer (steps, notify) is enabled
and patches at import as it does in Lambda.

The interpreter that runs the bench is the one measured. The functions run on python3.13 with
their runtime dependencies only; to measure that (see docs/performance.md):

    python3.13 -m venv /tmp/venv313 && /tmp/venv313/bin/pip install -e .
    /tmp/venv313/bin/python bench/cold_start.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = REPO_ROOT / "template.yaml"
MAX_OVERHEAD = 0.25
NO_HTTPX = ("videojobs.handlers.provider_webhook",)
OUR_PACKAGE = "videojobs"
# What Powertools looks at to tell Lambda from elsewhere: with it, the Tracer patches botocore
# and httpx at import as it does in Lambda (elsewhere it is disabled and costs less).
LAMBDA_ENV = {"LAMBDA_TASK_ROOT": str(REPO_ROOT / "functions")}

# Runs in a fresh interpreter: imports argv[2:] and reports the times and what got imported.
# With argv[1] == "tolerant" a module that cannot be imported on its own is skipped (some
# sys.modules entries are aliases set up by their package, not importable by name).
PROBE = """
import importlib, sys, time
tolerant = sys.argv[1] == "tolerant"
before = set(sys.modules)
failed = []
wall, cpu = time.perf_counter(), time.process_time()
for name in sys.argv[2:]:
    if name in sys.modules:
        continue
    try:
        importlib.import_module(name)
    except ImportError:
        if not tolerant:
            raise
        failed.append(name)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
new = [name for name in sys.modules if name not in before]
import json, sysconfig
site = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
def third_party(name):
    top = sys.modules.get(name.partition(".")[0])
    path = getattr(top, "__file__", None) or ""
    return top is not None and not name.startswith("videojobs") and any(
        path.startswith(directory + "/") for directory in site
    )
print(json.dumps({
    "ms": wall * 1000,
    "cpu_ms": cpu * 1000,
    "before": sorted(before),
    "new": new,
    "third_party": [name for name in new if third_party(name)],
    "failed": failed,
}))
"""


class NotImportableError(Exception):
    """The handler module raises on import."""


@dataclass
class Measured:
    module: str
    ours_ms: list[float]
    deps_ms: list[float]
    ours_cpu_ms: list[float]
    deps_cpu_ms: list[float]
    ours_source_ms: list[float]
    third_party: list[str]
    httpx: bool
    skipped: list[str]
    missing_in_baseline: set[str]
    extra_in_baseline: set[str]
    baseline_modules: set[str]
    handler_modules: set[str]

    @staticmethod
    def _median(values: list[float]) -> float:
        return float(statistics.median(values))

    @property
    def ours(self) -> float:
        return self._median(self.ours_ms)

    @property
    def deps(self) -> float:
        return self._median(self.deps_ms)

    @property
    def overhead(self) -> float:
        return (self.ours - self.deps) / self.deps

    @property
    def min_overhead(self) -> float:
        return (min(self.ours_ms) - min(self.deps_ms)) / min(self.deps_ms)

    @property
    def cpu_overhead(self) -> float:
        deps = self._median(self.deps_cpu_ms)
        return (self._median(self.ours_cpu_ms) - deps) / deps

    @property
    def ours_source(self) -> float:
        return self._median(self.ours_source_ms)


class Prober:
    """Runs probes in fresh interpreters that share one bytecode cache."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache

    def run(
        self, names: list[str], *, tolerant: bool = False, write_bytecode: bool = False
    ) -> dict[str, Any]:
        env = {**os.environ, **LAMBDA_ENV, "PYTHONPYCACHEPREFIX": str(self.cache)}
        if write_bytecode:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
        else:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        done = subprocess.run(  # noqa: S603 - our own interpreter and probe
            [sys.executable, "-c", PROBE, "tolerant" if tolerant else "strict", *names],
            check=True,
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            env=env,
        )
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    def forget_our_bytecode(self) -> None:
        # The cache mirrors source paths: drop every cached `videojobs` package outside
        # site-packages, wherever PYTHONPATH or the editable install points.
        for path in list(self.cache.rglob(OUR_PACKAGE)):
            if path.is_dir() and "site-packages" not in path.parts:
                shutil.rmtree(path, ignore_errors=True)

    def importtime(self, module: str) -> str:
        env = {
            **os.environ,
            **LAMBDA_ENV,
            "PYTHONPYCACHEPREFIX": str(self.cache),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        done = subprocess.run(  # noqa: S603 - our own interpreter
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            check=True,
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            env=env,
        )
        return done.stderr


def handler_modules() -> list[str]:
    """The distinct modules of the Handler values in template.yaml, in template order."""
    handlers = re.findall(r"^\s+Handler:\s*([\w.]+)\s*$", TEMPLATE.read_text(), re.M)
    modules = [handler.rpartition(".")[0] for handler in handlers]
    return list(dict.fromkeys(modules))


def lambda_runtime() -> str:
    """The functions' runtime in template.yaml (Globals), e.g. ``python3.13``."""
    match = re.search(r"^\s+Runtime:\s*(python[\d.]+)\s*$", TEMPLATE.read_text(), re.M)
    return match.group(1) if match else "unknown"


def measure(prober: Prober, module: str, runs: int) -> Measured:
    try:
        first = prober.run([module], write_bytecode=True)  # fills the cache for our side
    except subprocess.CalledProcessError as exc:
        lines = (exc.stderr or "").strip().splitlines()
        raise NotImportableError(lines[-1] if lines else f"exit status {exc.returncode}") from None
    deps = first["third_party"]
    baseline = prober.run(deps, tolerant=True, write_bytecode=True)
    ours: list[dict[str, Any]] = []
    bare: list[dict[str, Any]] = []
    from_source: list[float] = []
    for index in range(runs):
        # ABBA order, so that a machine warming up or slowing down favours neither side.
        for side in ("ours", "deps") if index % 2 == 0 else ("deps", "ours"):
            if side == "ours":
                ours.append(prober.run([module]))
            else:
                bare.append(prober.run(deps, tolerant=True))
        prober.forget_our_bytecode()
        from_source.append(prober.run([module])["ms"])
        prober.run([module], write_bytecode=True)  # unmeasured: refill the cache
    return Measured(
        module=module,
        ours_ms=[r["ms"] for r in ours],
        deps_ms=[r["ms"] for r in bare],
        ours_cpu_ms=[r["cpu_ms"] for r in ours],
        deps_cpu_ms=[r["cpu_ms"] for r in bare],
        ours_source_ms=from_source,
        third_party=deps,
        httpx="httpx" in first["new"],
        skipped=baseline["failed"],
        missing_in_baseline=set(deps) - set(baseline["third_party"]),
        extra_in_baseline=set(baseline["third_party"]) - set(deps),
        # What an interpreter has loaded once the deps are in: startup modules and the rest.
        baseline_modules=set(baseline["before"]) | set(baseline["new"]),
        handler_modules=set(first["new"]),
    )


def top_packages(modules: list[str]) -> str:
    counts: dict[str, int] = {}
    for name in modules:
        top = name.partition(".")[0]
        counts[top] = counts.get(top, 0) + 1
    return ", ".join(f"{top} ({n})" for top, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def importtime_outside(
    prober: Prober, module: str, ours: set[str], baseline: set[str], runs: int = 3
) -> list[tuple[str, float]]:
    """Median self time (ms) under ``-X importtime`` of the modules the handler loads
    (``ours``) that the baseline does not."""
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        for line in prober.importtime(module).splitlines():
            match = re.match(r"import time:\s+(\d+) \|\s+\d+ \| +(\S+)", line)
            if match is None:
                continue
            name = match.group(2)
            if name in ours and name not in baseline:
                samples.setdefault(name, []).append(int(match.group(1)) / 1000)
    medians = {name: float(statistics.median(values)) for name, values in samples.items()}
    return sorted(medians.items(), key=lambda kv: -kv[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15, help="measured imports per side (15)")
    parser.add_argument("--top", type=int, default=12, help="modules listed per miss (12)")
    parser.add_argument(
        "--only", nargs="+", metavar="MODULE", help="measure only these handler modules"
    )
    args = parser.parse_args(argv)
    if args.runs < 5:
        parser.error("--runs must be at least 5")

    modules = handler_modules()
    if args.only:
        unknown = sorted(set(args.only) - set(modules))
        if unknown:
            parser.error(f"not a handler module of template.yaml: {', '.join(unknown)}")
        modules = [m for m in modules if m in args.only]
    runtime = lambda_runtime()
    this = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if this != runtime:
        print(
            f"note: this interpreter is {this}; the functions run on {runtime}, whose collector "
            "and import machinery differ. For the figures that count, run this bench with a "
            f"{runtime} interpreter that has the runtime dependencies only (docs/performance.md)."
            "\n",
            flush=True,
        )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; load average at start "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}\n"
        f"{args.runs} runs per side, medians; a fresh interpreter per import; bytecode "
        f"cached for both sides\n",
        flush=True,
    )
    results: list[Measured] = []
    unmeasured: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="videojobs-pycache-") as cache:
        prober = Prober(Path(cache))
        for module in modules:
            try:
                result = measure(prober, module, args.runs)
            except NotImportableError as exc:
                unmeasured[module] = str(exc)
                print(f"  {module}: NOT MEASURED, it does not import: {exc}", flush=True)
                continue
            results.append(result)
            print(
                f"  {module}: ours {result.ours:.1f} ms, deps {result.deps:.1f} ms "
                f"({len(result.third_party)} third-party modules: "
                f"{top_packages(result.third_party)})",
                flush=True,
            )
            if result.missing_in_baseline or result.extra_in_baseline or result.skipped:
                print(
                    f"    baseline differs: {len(result.missing_in_baseline)} missing, "
                    f"{len(result.extra_in_baseline)} extra, {len(result.skipped)} not "
                    f"importable by name ({', '.join(result.skipped[:5])})",
                    flush=True,
                )

        verdict = {True: "ok", False: "MISSED"}
        width = max(len(m) for m in modules)
        print(
            f"\n{'handler module':{width}}  {'ours ms':>8}  {'deps ms':>8}  {'overhead':>8}  "
            f"{'(min)':>7}  {'(CPU)':>7}  {'ours, no .pyc':>13}  {'httpx':>5}  verdict"
        )
        ok = True
        for result in results:
            overhead_ok = result.overhead <= MAX_OVERHEAD
            httpx_ok = not (result.module in NO_HTTPX and result.httpx)
            ok = ok and overhead_ok and httpx_ok
            notes = [f"overhead {verdict[overhead_ok]}"]
            if result.module in NO_HTTPX:
                notes.append(f"no httpx {verdict[httpx_ok]}")
            print(
                f"{result.module:{width}}  {result.ours:8.1f}  {result.deps:8.1f}  "
                f"{result.overhead * 100:7.1f}%  {result.min_overhead * 100:6.1f}%  "
                f"{result.cpu_overhead * 100:6.1f}%  "
                f"{result.ours_source:13.1f}  {'yes' if result.httpx else 'no':>5}  "
                f"{', '.join(notes)}"
            )
        for module in unmeasured:
            dashes = "  ".join("-".rjust(n) for n in (8, 8, 8, 7, 7, 13, 5))
            print(f"{module:{width}}  {dashes}  MISSED: does not import")
            ok = False
        print(
            f"\noverhead: (ours - deps) / deps of the wall-clock medians; (min): the same of the "
            "fastest runs; (CPU): of the median process CPU times, a cross-check when other "
            "processes compete for the cores. ours, no .pyc: median wall ms with our modules "
            "compiled from source.\n"
            f"targets: overhead <= {MAX_OVERHEAD:.0%} for every handler; "
            f"{', '.join(NO_HTTPX)} imports no httpx"
        )

        for result in results:
            if result.overhead <= MAX_OVERHEAD:
                continue
            outside = importtime_outside(
                prober, result.module, result.handler_modules, result.baseline_modules
            )
            total = sum(ms for _, ms in outside)
            print(
                f"\n{result.module}: {result.ours - result.deps:.1f} ms over its deps; under "
                f"-X importtime the {len(outside)} modules outside the baseline take "
                f"{total:.1f} ms self time (median of 3 runs), the largest:"
            )
            for name, ms in outside[: args.top]:
                print(f"    {ms:7.2f} ms  {name}")
    print(f"\nload average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
