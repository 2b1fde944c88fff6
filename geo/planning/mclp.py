"""Solve a Maximal Covering Location Problem exactly: PySAL spopt's ``MCLP`` model, PuLP's bundled CBC, status and proven bound.

Input is a sparse 0/1 facility × demand coverage matrix, demand weights, facilities forced
open (spopt "predefined facilities") and how many more to open. Before building the model
the instance is reduced without changing its optimum: facilities that cover nothing are
dropped (unless forced open), demand no facility reaches is dropped, demand points covered
by exactly the same facilities are merged (weights summed) and facilities covering exactly
the same demand are merged (keeping the first).

spopt's ``MCLP.from_cost_matrix`` wants a dense demand × facility cost matrix and adds each
coverage constraint with a Python loop over *all* facilities — fine for small instances,
hours at 10,000 × 50,000. Above ``DENSE_MODEL_MAX_PAIRS`` pairs the identical model (same
variables, objective, predefined-facility fixing and facility-count constraint, all through
spopt's ``FacilityModelBuilder``) is built with sparse coverage constraints instead.
"""

from __future__ import annotations

import os
import re
import subprocess  # noqa: S404 - runs PuLP's bundled CBC binary
import tempfile
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pulp
from scipy import sparse

from geo.messages import Text

DENSE_MODEL_MAX_PAIRS = 200_000
# CBC checks its time limit only between phases; past this it is killed (see _run_cbc).
HARD_LIMIT_FACTOR = 1.25
HARD_LIMIT_GRACE_S = 10.0
MIN_CBC_SECONDS = 5.0


@dataclass
class MCLPResult:
    """What the solver returned.

    ``chosen``: facility rows open in the solution (forced ones included), in the input's
    numbering. ``objective``: covered weight of the solution. ``best_bound``: the proven
    upper bound (equal to the objective when optimal; from CBC's log otherwise, if it got
    that far). ``status``: "optimal"; "time_limit" (CBC's best solution when its limit hit,
    not proven optimal); "stopped" (CBC gave no solution in time — the warm start, e.g. the
    greedy plan, is returned); "not_solved" (nothing to return).
    """

    chosen: list[int]
    objective: float | None
    best_bound: float | None
    status: str
    runtime_s: float
    model_size: dict = field(default_factory=dict)
    notes: list[Text] = field(default_factory=list)


def warm_up() -> None:
    """Import spopt now (it pulls in libpysal, scikit-learn, matplotlib…: 3–8 s on first import).

    A web server can call this in a background thread at start-up so the first exact plan
    does not pay for it.
    """
    import spopt.locate  # noqa: F401


def reduce_instance(matrix: sparse.csr_matrix, weights: np.ndarray, predefined: np.ndarray):
    """Exact reductions; returns (matrix, weights, facility rows kept, predefined flags kept).

    Kept facilities are representatives: a dropped duplicate row is never better than its
    representative, and a row covering nothing adds nothing.
    """
    matrix = sparse.csr_matrix(matrix, dtype=np.float64)
    matrix.sum_duplicates()
    matrix.sort_indices()
    weights = np.asarray(weights, dtype=float)
    n_fac = matrix.shape[0]
    predefined = np.zeros(n_fac, bool) if len(predefined) == 0 else np.asarray(predefined, bool)
    useful = (matrix @ weights > 0) | predefined
    rows = np.flatnonzero(useful)
    matrix = matrix[rows]
    predefined = predefined[rows]
    # Facilities with identical coverage: keep the first (forced-open rows are always kept).
    seen, keep = {}, []
    for k in range(matrix.shape[0]):
        key = matrix.indices[matrix.indptr[k]:matrix.indptr[k + 1]].tobytes()
        if predefined[k] or key not in seen:
            seen.setdefault(key, k)
            keep.append(k)
    keep = np.asarray(keep, dtype=np.int64)
    rows, matrix, predefined = rows[keep], matrix[keep], predefined[keep]
    # Demand points reached by no facility go; those reached by the same facilities merge.
    by_column = matrix.tocsc()
    by_column.sort_indices()
    groups: dict[bytes, int] = {}
    group_of = np.full(by_column.shape[1], -1, dtype=np.int64)
    for j in range(by_column.shape[1]):
        start, end = by_column.indptr[j], by_column.indptr[j + 1]
        if end > start and weights[j] > 0:
            group_of[j] = groups.setdefault(by_column.indices[start:end].tobytes(), len(groups))
    members = np.flatnonzero(group_of >= 0)
    merged_weights = np.bincount(group_of[members], weights=weights[members], minlength=len(groups))
    _, first = np.unique(group_of[members], return_index=True)
    merged = by_column[:, members[first]].tocsr()
    return merged, merged_weights, rows, predefined


def solve_mclp(matrix: sparse.csr_matrix, weights: np.ndarray, n_new: int, predefined: np.ndarray | None = None,
               warm_start: list[int] | None = None, time_limit_s: float = 120.0, progress=None,
               threads: int | None = None) -> MCLPResult:
    """Open ``n_new`` facilities besides the ``predefined`` ones to maximise covered weight.

    Parameters
    ----------
    matrix : sparse (facilities × demand), nonzero where a facility covers a demand point
    weights : demand weights (residents), ≥ 0
    n_new : how many facilities to open besides the forced ones
    predefined : bool per facility, forced open (spopt's predefined facilities)
    warm_start : facility rows of a known solution (e.g. greedy), given to CBC as its start
    time_limit_s : seconds for the whole call: CBC gets what is left after building the model
        (at least ``MIN_CBC_SECONDS``), and is killed if it overruns (``_run_cbc``)
    """
    started = time.perf_counter()
    predefined = np.zeros(matrix.shape[0], bool) if predefined is None or len(predefined) == 0 else np.asarray(predefined, bool)
    red, w, rows, forced = reduce_instance(matrix, weights, predefined)
    n_fac, n_cli = red.shape
    n_free = int((~forced).sum())
    opened = min(int(n_new), n_free)
    size = {"facilities": int(matrix.shape[0]), "demand": int(matrix.shape[1]), "facilities_reduced": n_fac,
            "demand_reduced": n_cli, "nonzeros_reduced": int(red.nnz), "forced_open": int(forced.sum())}
    notes = []
    if opened < n_new:
        notes.append(Text("mclp.note.few_candidates", n=n_free))
    if n_cli == 0 or opened == 0:
        objective = _covered(red, w, np.flatnonzero(forced))
        return MCLPResult(rows[forced].tolist(), objective, objective, "optimal", time.perf_counter() - started, size,
                          notes + [Text("mclp.note.nothing_left")])
    if progress:
        progress("exact: building the model", 0, 1)
    with warnings.catch_warnings():
        # PuLP 3.3 deprecates LpVariable(...) (which spopt calls) and PULP_CBC_CMD, for PuLP 4.0.
        warnings.simplefilter("ignore", DeprecationWarning)
        mclp = _build(red, w, forced, int(forced.sum()) + opened)
        position = {int(r): k for k, r in enumerate(rows)}
        warm = {position[r] for r in (warm_start or []) if r in position} | set(np.flatnonzero(forced).tolist())
        _set_start(mclp, red, warm)
        size["build_s"] = round(time.perf_counter() - started, 3)
        cbc_seconds = max(MIN_CBC_SECONDS, round(time_limit_s - (time.perf_counter() - started), 1))
        if progress:
            progress("exact: building the model", 1, 1)
            progress(f"exact: CBC (≤ {cbc_seconds:g} s)", 0, 1)
        log, ran = _run_cbc(mclp, cbc_seconds, threads, notes)
        if progress:
            progress(f"exact: CBC (≤ {cbc_seconds:g} s)", 1, 1)
    size["solve_s"] = round(time.perf_counter() - started - size["build_s"], 3)
    values = np.array([v.value() or 0.0 for v in mclp.fac_vars]) if ran else np.zeros(n_fac)
    open_k = np.flatnonzero(values > 0.5)
    solved = ran and mclp.problem.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible) and len(open_k) > 0
    if not solved:
        if len(warm) > int(forced.sum()):  # report the start solution (e.g. greedy) rather than nothing
            start = np.array(sorted(warm), dtype=np.int64)
            notes.append(Text("mclp.note.no_better"))
            return MCLPResult(rows[start].tolist(), _covered(red, w, start), _bound(log), "stopped",
                              time.perf_counter() - started, size, notes)
        return MCLPResult([], None, _bound(log), "not_solved", time.perf_counter() - started, size, notes)
    status = "optimal" if mclp.problem.sol_status == pulp.LpSolutionOptimal else "time_limit"
    objective = _covered(red, w, open_k)
    bound = objective if status == "optimal" else _bound(log)
    return MCLPResult(rows[open_k].tolist(), objective, bound, status, time.perf_counter() - started, size, notes)


def _run_cbc(mclp, time_limit_s: float, threads: int | None, notes: list[str]) -> tuple[str, bool]:
    """Solve with PuLP's bundled CBC, warm-started, under a hard wall-clock limit; returns (log, solved).

    This is PuLP's own CBC call (``PULP_CBC_CMD.solve_CBC``: same MPS, start file, options and
    solution reader) with one difference: CBC only checks ``-sec`` between phases, and on a
    large degenerate root LP it was seen running 20 minutes past a 5 s limit. Here the process
    is killed at ``time_limit_s · HARD_LIMIT_FACTOR + HARD_LIMIT_GRACE_S``.
    """
    problem = mclp.problem
    solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s, warmStart=True, threads=threads)
    if not solver.available():
        notes.append(Text("mclp.note.no_cbc"))
        return "", False
    with tempfile.TemporaryDirectory(prefix="mclp-") as folder:
        mps, start, solution = (os.path.join(folder, name) for name in ("model.mps", "start.mst", "model.sol"))
        variables, variable_names, constraint_names, _ = problem.writeMPS(mps, rename=1)
        solver.writesol(start, problem, variables, variable_names, constraint_names)
        args = [solver.path, mps, "-max" if problem.sense == pulp.LpMaximize else "-min", "-mips", start,
                "-sec", f"{time_limit_s:g}", "-timeMode", "elapsed"]
        if threads:
            args += ["-threads", str(int(threads))]
        args += ["-solve", "-printingOptions", "all", "-solution", solution]
        hard_limit = time_limit_s * HARD_LIMIT_FACTOR + HARD_LIMIT_GRACE_S
        try:
            run = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 timeout=hard_limit, check=False)
            log = run.stdout.decode("utf-8", errors="replace")
        except subprocess.TimeoutExpired as exc:  # run() has killed CBC
            log = (exc.stdout or b"").decode("utf-8", errors="replace")
            notes.append(Text("mclp.note.overran", limit=f"{time_limit_s:g}", after=f"{hard_limit:.0f}"))
            return log, False
        if run.returncode != 0 or not os.path.exists(solution):
            notes.append(Text("mclp.note.failed", code=run.returncode))
            return log, False
        status, values, _, _, _, sol_status = solver.readsol_MPS(solution, problem, variables, variable_names, constraint_names)
    problem.assignVarsVals(values)
    problem.assignStatus(status, sol_status)
    return log, True


def _covered(matrix: sparse.csr_matrix, weights: np.ndarray, rows) -> float:
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) == 0:
        return 0.0
    hit = np.asarray(matrix[rows].sum(axis=0)).ravel() > 0
    return float(weights[hit].sum())


def _build(matrix: sparse.csr_matrix, weights: np.ndarray, forced: np.ndarray, p_facilities: int):
    """spopt's MCLP over ``matrix`` (facilities × demand): dense builder when small, sparse otherwise."""
    from spopt.locate import MCLP
    from spopt.locate.base import FacilityModelBuilder

    n_fac, n_cli = matrix.shape
    predefined = forced.astype(int) if forced.any() else None
    if n_fac * n_cli <= DENSE_MODEL_MAX_PAIRS:
        cost = np.where(matrix.T.toarray() > 0, 0.0, 2.0)      # demand × facility; covered ⇔ cost ≤ 1
        return MCLP.from_cost_matrix(cost, weights, service_radius=1.0, p_facilities=p_facilities,
                                     predefined_facilities_arr=predefined)
    mclp = MCLP("mclp", pulp.LpProblem("mclp", pulp.LpMaximize))
    FacilityModelBuilder.add_facility_integer_variable(mclp, range(n_fac), "x[{i}]")
    FacilityModelBuilder.add_client_integer_variable(mclp, range(n_cli), "y[{i}]")
    x, y = mclp.fac_vars, mclp.cli_vars
    mclp.problem += pulp.LpAffineExpression(zip(y, weights.tolist(), strict=True)), "objective function"
    if predefined is not None:
        FacilityModelBuilder.add_predefined_facility_constraint(mclp, predefined)
    by_demand = matrix.T.tocsr()
    by_demand.sort_indices()
    for i in range(n_cli):
        cols = by_demand.indices[by_demand.indptr[i]:by_demand.indptr[i + 1]]
        terms = [(x[j], 1) for j in cols.tolist()]
        terms.append((y[i], -1))
        mclp.problem.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression(terms), pulp.LpConstraintGE, f"cover_{i}", 0))
    FacilityModelBuilder.add_facility_constraint(mclp, p_facilities)
    mclp.aij = None  # the dense matrix spopt would keep; results are read from the variables instead
    return mclp


def _set_start(mclp, matrix: sparse.csr_matrix, open_rows: set) -> None:
    """Give CBC a feasible start: these facilities open, the demand they reach covered."""
    rows = np.array(sorted(open_rows), dtype=np.int64)
    hit = (np.asarray(matrix[rows].sum(axis=0)).ravel() > 0) if len(rows) else np.zeros(matrix.shape[1], bool)
    for k, var in enumerate(mclp.fac_vars):
        if var.isFixed():
            continue
        var.setInitialValue(1 if k in open_rows else 0)
    for i, var in enumerate(mclp.cli_vars):
        var.setInitialValue(1 if hit[i] else 0)


_BOUND_PATTERNS = (
    re.compile(r"^Upper bound:\s+(-?[0-9.eE+-]+)", re.MULTILINE),
    re.compile(r"best possible (-?[0-9.eE+-]+)"),
)


def _bound(log: str) -> float | None:
    """The proven upper bound from CBC's log (CBC minimises the negated objective internally)."""
    for pattern in _BOUND_PATTERNS:
        found = pattern.findall(log)
        if found:
            try:
                return abs(float(found[-1]))
            except ValueError:
                continue
    return None
