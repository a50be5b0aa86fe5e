"""UTLDR: an SEIR epidemic with testing, hospitals, lockdown, deaths, waning immunity and vaccination.

G. Rossetti, L. Milli and S. Citraro (2020), "UTLDR: an agent-based framework for modeling infectious
diseases and public interventions", working paper; NDlib ``UTLDRModel``. The acronym names its macro
states: Undetected (S, E, I), Tested (identified exposed, hospitalised mild, severe, in intensive care),
Locked (susceptible, exposed, infected in lockdown), Dead and Recovered; vaccination is a further state.
See :class:`UTLDR` for the round, and docs/models/epidemics-catalogue.md for what differs from NDlib and why.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.plugin import BadParameterError, Param, PropagationModel, StepContext, StepResult


def _prob(default: float, what: str) -> Param:
    return Param(float, default, 0.0, 1.0, what)


S, E, I, R, IE, HM, ICU, HS, LS, LE, LI, D, V = range(13)  # noqa: E741 - the compartments' names
#: Agents in these states carry the disease (the session goes on while any does).
_ALIVE_INFECTED = (E, I, IE, HM, ICU, HS, LE, LI)
_LOCK = {S: LS, E: LE, I: LI}


class UTLDR(PropagationModel):
    """UTLDR (Rossetti, Milli and Citraro 2020; NDlib ``UTLDRModel``), vectorised.

    States, in order: ``S``, ``E`` (exposed), ``I`` (infected), ``R`` (recovered), ``IE`` (identified
    exposed: tested positive, quarantined), ``HM`` (hospitalised, mild), ``ICU`` (severe, in intensive
    care), ``HS`` (severe, without an ICU bed), ``LS``, ``LE``, ``LI`` (susceptible, exposed, infected in
    lockdown), ``D`` (dead), ``V`` (vaccinated). Seeds start in ``I``. ``reached`` counts agents ever
    exposed. Agents in ``I``, ``LI`` and ``HM`` are infectious; with ``z > 0`` so are the dead.

    Round t (synchronous: every rule reads the states at the start of the round). Every agent draws one
    ``ctx.random_agents`` number ``u`` (all agents, ascending), and its rule cuts [0, 1) into the
    chances of its transitions, in the order NDlib tests them; ``x`` below is always that ``u``.

    0. Lockdown (when ``lockdown > 0``): at the start of round ``lockdown`` (1 is the first round) every
       complying agent — ``c < lambda`` for its number ``c`` drawn at the session's start — that is in
       S, E or I moves to LS, LE or LI, and its household is fixed: ``floor(c / lambda * epsilon_l)`` of
       the agents it follows (NDlib's uniform size in 0 .. epsilon_l - 1), those whose in-edges get the
       smallest ``ctx.random_edges`` numbers of that round. At the start of round ``lockdown_end`` (when
       above 0) every agent still locked returns to S, E or I. The round then runs on these states.
    1. Contacts of a susceptible agent (S or LS). Its contacts are its followees (S) or its household
       (LS): ``k`` of them, of which it meets ``m = floor(k * activity)`` drawn with replacement (NDlib's
       sample). A contact in I or LI infects with probability ``beta``, one in HM with
       ``beta * (1 - epsilon_e)`` (quarantine cuts a share ``epsilon_e`` of a hospitalised agent's
       contacts), a dead one with ``z``. So it escapes its contacts with probability
       ``(1 - C / k)^m``, ``C`` being the sum of those chances over its ``k`` contacts. With probability
       ``p`` (``p_l`` in lockdown) it also meets ``floor(m * lsize)`` agents drawn uniformly from all
       agents but the IE and HM ones (and the dead when ``z = 0``), and escapes them with
       ``(1 - beta q_I - z q_D)^L``, ``q_I`` and ``q_D`` being the shares of I or LI and of dead agents
       among those candidates. ``P`` is the chance that it does not escape. This is the law of NDlib's
       contact loop, computed at once instead of contact by contact.
    2. S: vaccinated (V) when ``x < v'``; otherwise exposed (E) when ``x < v' + (1 - v') P``. ``v' = v``
       the first time the agent reaches this draw (a round in S, or in LS without leaving it) and 0
       afterwards: each agent has a single chance, as NDlib's description says.
       LS: back to S when ``x < mu``; else, with the rest of [0, 1) cut as for S, V or LE.
    3. E: if it was never tested, it is tested with ``phi_e``: ``x < phi_e (1 - kappa_e)`` is a positive
       test (IE; ``kappa_e`` is the false-negative rate), ``x < phi_e`` a negative one (it stays E, tested
       for good). Otherwise (``x >= phi_e``, or already tested) it turns infectious with ``sigma``.
       LE: back to E with ``mu``, else LI with ``sigma``.
    4. I: if never tested, tested with ``phi_i``; a positive test (``1 - kappa_i``) hospitalises it:
       severe with ``iota`` (ICU when a bed is free, else HS), otherwise HM. Otherwise it recovers (R)
       with ``gamma`` or, failing that, dies (D) with ``omega``.
       LI: back to I with ``mu``; else dies with ``omega`` or, failing that, recovers with ``gamma``
       (NDlib's order for LI).
    5. IE: with ``sigma`` its disease shows: severe with ``iota`` (ICU or HS), otherwise HM.
       HM: recovers with ``gamma`` or, failing that, dies with ``omega``. HS: ``gamma_f``, ``omega_f``.
       ICU: ``gamma_t``, ``omega_t`` (the bed is free from the next round).
    6. R: susceptible again with ``s``. V: the vaccine fails and it is susceptible again with ``f``.
       D: stays dead.

    Intensive care has ``icu_b`` beds (-1: as many as agents, NDlib's default). The severe cases of a
    round (from steps 4 and 5) take the beds free at the start of the round in ascending agent order;
    the rest go to HS.

    Every infection is decided from all of an agent's contacts at once, so no single sender is credited
    (``gives_sources = False``). The session ends when nobody carries the disease (E, I, IE, HM, ICU, HS,
    LE, LI) and, with ``z > 0``, nobody is dead; with waning immunity it may run for ever (``endless``).
    No feed exposures. NDlib's stratified parameters (a value per ``segment`` of agents) and its
    workplace-limited lockdowns are not here.
    """

    name = "utldr"
    version = "1.0"
    description = (
        "UTLDR (Rossetti et al. 2020): SEIR with testing, quarantine, hospitals and ICU beds, a lockdown window, "
        "deaths, waning immunity and vaccination."
    )
    params = {
        "beta": _prob(0.05, "probability that one sampled contact with an infectious agent infects"),
        "sigma": _prob(0.3, "probability per round that an exposed agent becomes infectious"),
        "gamma": _prob(0.2, "probability per round that an infected (or mildly ill) agent recovers"),
        "gamma_t": _prob(0.6, "probability per round that an agent in intensive care recovers"),
        "gamma_f": _prob(0.95, "probability per round that a severe case without an ICU bed recovers"),
        "omega": _prob(0.0, "probability per round that an infected (or mildly ill) agent that did not recover dies"),
        "omega_t": _prob(0.0, "probability per round that an agent in intensive care that did not recover dies"),
        "omega_f": _prob(0.0, "probability per round that a severe case without a bed that did not recover dies"),
        "phi_e": _prob(0.0, "probability per round that an exposed agent never tested is tested"),
        "phi_i": _prob(0.0, "probability per round that an infected agent never tested is tested"),
        "kappa_e": _prob(0.7, "probability that a test of an exposed agent is a false negative"),
        "kappa_i": _prob(0.9, "probability that a test of an infected agent is a false negative"),
        "epsilon_e": _prob(1.0, "share of a hospitalised mild case's contacts cut by quarantine"),
        "iota": _prob(1.0, "probability that a detected case is severe (needs intensive care)"),
        "icu_b": Param(int, -1, -1, 10**9, "intensive-care beds (-1: one per agent, no limit)"),
        "z": _prob(0.0, "probability that a sampled contact with a dead agent infects"),
        "s": _prob(0.0, "probability per round that a recovered agent loses its immunity"),
        "v": _prob(0.0, "probability that an agent is vaccinated, once, the first round it is susceptible"),
        "f": _prob(0.0, "probability per round that a vaccine fails and the agent is susceptible again"),
        "activity": _prob(1.0, "share of its contacts an agent meets per round (sampled with replacement)"),
        "p": _prob(0.0, "probability per round of meeting random agents besides one's contacts"),
        "p_l": _prob(0.0, "probability per round of meeting random agents, in lockdown"),
        "lsize": _prob(0.25, "random agents met, as a share of the contacts met"),
        "lockdown": Param(int, 0, 0, 10**6, "round at whose start the lockdown begins (0: none)"),
        "lockdown_end": Param(int, 0, 0, 10**6, "round at whose start the lockdown ends (0: never)"),
        "lambda": _prob(1.0, "probability that an agent complies with the lockdown"),
        "mu": _prob(1.0, "probability per round that a locked agent leaves the lockdown"),
        "epsilon_l": Param(int, 1, 1, 1000, "households hold 0 .. epsilon_l - 1 of the agents one follows"),
    }
    #: Infection by contacts (beta) and by corpses (z): with both at 0 nobody but the seeds is infected.
    zero_params = ("beta", "z")
    states = ("S", "E", "I", "R", "IE", "HM", "ICU", "HS", "LS", "LE", "LI", "D", "V")
    adopted_states = (E, I, R, IE, HM, ICU, HS, LE, LI, D)
    transmitting_states = (I, HM, LI)
    transmit = "while"
    seed_state = I
    progressive = False
    endless = True  # waning immunity and vaccine failure can keep it endemic
    # onsets: entries into I, which include a locked agent's return LI -> I at the lockdown's end (and leave out
    # LE -> LI, an onset in lockdown)
    onset_states = (I,)
    removal_states = (R, D)  # removals: recoveries and deaths
    gives_sources = False

    @classmethod
    def validate(cls, params: dict[str, Any]) -> dict[str, Any]:
        out = super().validate(params)
        start, end = out["lockdown"], out["lockdown_end"]
        if end and not start:
            raise BadParameterError(
                f"parameter lockdown_end={end} needs a lockdown: give lockdown (the round it starts) as well"
            )
        if end and end <= start:
            raise BadParameterError(
                f"parameter lockdown_end={end} is not after lockdown={start}: give lockdown_end > lockdown, "
                "or 0 for a lockdown that never ends"
            )
        return out

    def start(self, ctx: StepContext) -> None:
        n = ctx.n
        ctx.store["tested"] = np.zeros(n, dtype=bool)
        ctx.store["spent"] = np.zeros(n, dtype=bool)  # the single vaccination chance was drawn
        ctx.store["household_agent"] = np.empty(0, dtype=np.int32)
        ctx.store["household_member"] = np.empty(0, dtype=np.int32)
        if self.p["lockdown"]:
            ctx.store["comply"] = ctx.random_agents(np.arange(n))

    def step(self, ctx: StepContext) -> StepResult:
        p = self.p
        n = ctx.n
        state = ctx.state
        st = state.astype(np.int8)  # a copy: the states the rules read, after a lockdown decree
        rnd = ctx.round + 1
        if p["lockdown"] and rnd == p["lockdown"]:
            self._lock(ctx, st)
        if p["lockdown_end"] and rnd == p["lockdown_end"]:
            for free, locked in _LOCK.items():
                st[st == locked] = free
        x = ctx.random_agents(np.arange(n))
        new = st.copy()
        infection, attempts, exposed = self._infection(ctx, st)

        # 2. susceptible, free and locked
        spent = ctx.store["spent"]
        sus = (st == S) | (st == LS)
        chance = np.where(spent, 0.0, p["v"]) if p["v"] > 0.0 else np.zeros(n)
        lead = np.where(st == LS, p["mu"], 0.0)  # LS: leaving the lockdown comes first
        rest = 1.0 - lead
        vax = sus & (x >= lead) & (x < lead + rest * chance)
        caught = sus & (x >= lead + rest * chance) & (x < lead + rest * (chance + (1.0 - chance) * infection))
        new[(st == LS) & (x < lead)] = S
        new[vax] = V
        new[caught] = np.where(st[caught] == LS, LE, E)
        ctx.store["spent"] = spent | (sus & (x >= lead))  # the chance is spent once it is drawn

        # 3. exposed
        tested = ctx.store["tested"]
        ex = st == E
        a = np.where(tested, 0.0, p["phi_e"])
        positive = ex & (x < a * (1.0 - p["kappa_e"]))
        new[positive] = IE
        new[ex & (x >= a) & (x < a + (1.0 - a) * p["sigma"])] = I
        tested = tested | (ex & (x < a))
        le = st == LE
        new[le & (x < p["mu"])] = E
        new[le & (x >= p["mu"]) & (x < p["mu"] + (1.0 - p["mu"]) * p["sigma"])] = LI

        # 4. infected, free and locked
        inf = st == I
        a = np.where(tested, 0.0, p["phi_i"])
        detected = inf & (x < a * (1.0 - p["kappa_i"]))
        severe_i = detected & (x < a * (1.0 - p["kappa_i"]) * p["iota"])
        new[detected & ~severe_i] = HM
        ctx.store["tested"] = tested | (inf & (x < a))
        _resolve(new, inf, x, a, p["gamma"], p["omega"])
        li = st == LI
        mu = p["mu"]
        new[li & (x < mu)] = I
        dies = mu + (1.0 - mu) * p["omega"]
        new[li & (x >= mu) & (x < dies)] = D
        new[li & (x >= dies) & (x < dies + (1.0 - mu) * (1.0 - p["omega"]) * p["gamma"])] = R

        # 5. identified and hospitalised
        ie = st == IE
        onset = p["sigma"]
        severe_e = ie & (x < onset * p["iota"])
        new[ie & (x >= onset * p["iota"]) & (x < onset)] = HM
        _resolve(new, st == HM, x, 0.0, p["gamma"], p["omega"])
        _resolve(new, st == HS, x, 0.0, p["gamma_f"], p["omega_f"])
        _resolve(new, st == ICU, x, 0.0, p["gamma_t"], p["omega_t"])
        severe = np.flatnonzero(severe_i | severe_e)
        if severe.size:
            beds = severe.size if p["icu_b"] < 0 else max(0, p["icu_b"] - int(np.count_nonzero(st == ICU)))
            new[severe[:beds]] = ICU
            new[severe[beds:]] = HS

        # 6. recovered and vaccinated
        new[(st == R) & (x < p["s"])] = S
        new[(st == V) & (x < p["f"])] = S

        changed = np.flatnonzero(new != state)
        return StepResult(changed, new[changed], attempts=attempts, exposed=exposed)

    def is_done(self, ctx: StepContext) -> bool:
        carrying = np.zeros(len(self.states), dtype=bool)
        carrying[list(_ALIVE_INFECTED)] = True
        if self.p["z"] > 0.0:
            carrying[D] = True
        return not bool(carrying[ctx.state].any())

    # -- steps ------------------------------------------------------------------------------------

    def _lock(self, ctx: StepContext, st: np.ndarray) -> None:
        """Step 0: complying agents in S, E, I move to LS, LE, LI (in ``st``) and get their households."""
        lam = self.p["lambda"]
        comply = ctx.store["comply"]
        lockable = (comply < lam) & ((st == S) | (st == E) | (st == I))
        locked = np.flatnonzero(lockable)
        for free, lock in _LOCK.items():
            st[lockable & (st == free)] = lock
        if locked.size == 0:
            return
        size = np.minimum(np.floor(comply[locked] / lam * self.p["epsilon_l"]), self.p["epsilon_l"] - 1)
        agent, member, edges = ctx.gather_in(locked)
        keys = ctx.random_edges(edges)
        counts = ctx.in_degree(locked)
        group = np.repeat(np.arange(locked.size), counts)
        order = np.lexsort((keys, group))  # by agent, then by the edge's number
        rank = np.arange(order.size) - np.repeat(np.cumsum(counts) - counts, counts)
        keep = order[rank < size[group]]
        keep.sort()  # grouped by agent again, each agent's members in follow order
        ctx.store["household_agent"] = agent[keep].astype(np.int32)
        ctx.store["household_member"] = member[keep].astype(np.int32)

    def _infection(self, ctx: StepContext, st: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
        """Step 1: ``P`` for every agent (0 for those not susceptible), the attempts counted, and the
        susceptible agents some infectious agent reached (``exposed``)."""
        p = self.p
        n = ctx.n
        beta, z = p["beta"], p["z"]
        # Each agent's chance of infecting one contact that samples it.
        per = np.zeros(len(self.states))
        per[[I, LI]] = beta
        per[HM] = beta * (1.0 - p["epsilon_e"])
        per[D] = z
        weight = per[st]
        spreaders = np.flatnonzero(weight > 0.0)
        sources, targets, _ = ctx.graph.gather_out(spreaders)
        load = np.bincount(targets, weights=weight[sources], minlength=n)
        k = np.diff(ctx.graph.in_indptr).astype(np.float64)
        # Locked susceptible agents meet only their households.
        hh_agent, hh_member = ctx.store["household_agent"], ctx.store["household_member"]
        locked = st == LS
        if hh_agent.size or locked.any():
            load[locked] = np.bincount(hh_agent, weights=weight[hh_member], minlength=n)[locked]
            k[locked] = np.bincount(hh_agent, minlength=n)[locked]
        m = np.floor(k * p["activity"])
        with np.errstate(divide="ignore", invalid="ignore"):
            escape = np.where(k > 0, (1.0 - load / np.maximum(k, 1.0)) ** m, 1.0)
        if p["p"] > 0.0 or p["p_l"] > 0.0:
            counts = np.bincount(st, minlength=len(self.states))
            candidates = n - counts[IE] - counts[HM] - (counts[D] if z == 0.0 else 0)
            if candidates > 0:
                q_i = (counts[I] + counts[LI]) / candidates
                q_d = counts[D] / candidates if z > 0.0 else 0.0
                far = (1.0 - beta * q_i - z * q_d) ** np.floor(m * p["lsize"])
                pp = np.where(locked, p["p_l"], p["p"])
                escape = escape * (1.0 - pp + pp * far)
        susceptible = (st == S) | locked
        infection = np.where(susceptible, 1.0 - escape, 0.0)
        reached = targets[susceptible[targets]]
        return infection, int(targets.size), reached


def _resolve(
    new: np.ndarray, who: np.ndarray, x: np.ndarray, lead: np.ndarray | float, gamma: float, omega: float
) -> None:
    """Recovery with ``gamma``, failing that death with ``omega``, in the part of [0, 1) after ``lead``."""
    rest = 1.0 - lead
    recover = lead + rest * gamma
    new[who & (x >= lead) & (x < recover)] = R
    new[who & (x >= recover) & (x < recover + rest * (1.0 - gamma) * omega)] = D
