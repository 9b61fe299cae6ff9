"""Compute units per Choir instruction, typical and worst case, plus lockstep throughput.

Why: the program must stay well inside Solana's budget (goals: no instruction above 20,000 CU, the vote and divest
paths under 6,000 CU), and the differential campaign must run at least 1,000 lockstep steps per second. Every
figure comes from the real SVM runtime (solders.litesvm) running the program built from `programs/choir`.

Worst cases: creation instructions vary with the PDA's bump (each extra on-curve bump above the canonical one costs
one `sol_create_program_address`), so they are measured over many addresses; `submit_spec`, `request_public` and
the settling vote grow with the number of co-authors, so they are measured at MAX_COAUTHORS (10).

Run: `.venv/bin/python bench/bench_program.py [--steps N] [--seeds S]`.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections import defaultdict

from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction

from choir_model import (
    CHOIR,
    CreateThread,
    Divest,
    Expire,
    Fund,
    Params,
    ProcessApproval,
    RequestPublic,
    Step,
    SubmitMessage,
    SubmitSpec,
)
from programs.driver import ProgramDriver, default_program_image
from programs.instructions import open_member

T0 = 1_700_000_000
SIGNERS = ("treasury1", "treasury2")
GOAL_ANY, GOAL_HOT = 20_000, 6_000
HOT = ("process_approval", "divest_tokens")


def h(n: int) -> str:
    return f"{n:064x}"


class Recorder:
    def __init__(self, image: bytes, params: Params | None = None) -> None:
        self.driver = ProgramDriver(params, image=image)
        self.samples: dict[tuple[str, str], list[int]] = defaultdict(list)

    def run(self, step: Step, label: str | None = None) -> None:
        error = self.driver.apply(step)
        if error is not None:
            raise RuntimeError(f"{step} failed: {error}")
        if label is not None:
            self.samples[(self.driver.last_instruction, label)].append(self.driver.last_compute_units)


def measure(image: bytes) -> dict[tuple[str, str], list[int]]:
    samples: dict[tuple[str, str], list[int]] = defaultdict(list)

    # Small world: one co-author per thread.
    r = Recorder(image)
    d = r.driver
    samples[("initialize", "genesis (config + treasury)")].append(d.last_compute_units)
    users = [f"user{i}" for i in range(40)]
    for user in users:
        r.run(Fund(user, T0, 1_000 * CHOIR, SIGNERS))  # opens the wallet too (two instructions)
        r.run(Fund(user, T0, CHOIR, SIGNERS), "typical")
    for i, user in enumerate(users):
        r.run(CreateThread(user, T0 + 1, f"thread-{i}", 10 * CHOIR), "over 40 thread ids")
    for i, user in enumerate(users):
        r.run(SubmitMessage(user, T0 + 2, f"thread-{i}", h(i)), "over 40 hashes")
        r.run(RequestPublic(user, T0 + 2, f"thread-{i}", h(i)), "no other co-author (Public at once)")
    pairs = list(enumerate(itertools.pairwise(users)))
    for i, (_, other) in pairs:
        r.run(SubmitSpec(other, T0 + 4, f"thread-{i}", h(1000 + i), 2 * CHOIR), "1 co-author")
    for i, (user, _) in pairs:
        r.run(ProcessApproval(user, T0 + 5, f"thread-{i}", h(1000 + i), True), "settles: 1 approver paid")
    for i, (_, other) in pairs:
        r.run(SubmitMessage(other, T0 + 6, f"thread-{i}", h(2000 + i)))
        r.run(RequestPublic(other, T0 + 6, f"thread-{i}", h(2000 + i)), "1 voter")
    for i, (user, _) in pairs:
        r.run(ProcessApproval(user, T0 + 8, f"thread-{i}", h(2000 + i), False), "settles a request: denied")
        r.run(Divest(user, T0 + 8, f"thread-{i}", CHOIR), "typical")
        r.run(SubmitSpec(users[(i + 2) % len(users)], T0 + 8, f"thread-{i}", h(3000 + i), CHOIR))
    for i in range(len(users) - 1):
        r.run(Expire("keeper", T0 + 8 + d.params.approval_window, f"thread-{i}", h(3000 + i)), "typical")
    for key, values in r.samples.items():
        samples[key] += values

    # open_member alone: the first fund of a user carries it; measure it as its own transaction.
    for i in range(20):
        name = f"fresh{i}"
        outcome = d.send([open_member(d.program, d.transport.payer_key, d.pubkey(name))], [])
        assert outcome.ok, outcome
        samples[("open_member", "over 20 users")].append(outcome.compute_units)

    # Big thread: MAX_COAUTHORS co-authors.
    params = Params()
    r = Recorder(image, params)
    n = params.max_coauthors  # at most n co-authors, so a spec has at most n - 1 voters
    people = [f"member{i}" for i in range(n + 1)]
    for person in people:
        r.run(Fund(person, T0, 1_000 * CHOIR, SIGNERS))
    r.run(CreateThread(people[0], T0 + 1, "big", 100 * CHOIR))
    now = T0 + 2
    for i in range(1, n - 1):  # member1 .. member8 join, one spec at a time
        r.run(SubmitSpec(people[i], now, "big", h(i), CHOIR))
        for j in range(i):
            r.run(ProcessApproval(people[j], now + 1, "big", h(i), True), "vote, not settling" if j < i - 1 else None)
        now += 2
    r.run(SubmitSpec(people[n - 1], now, "big", h(500), 10 * CHOIR + 7), f"{n - 1} co-authors (worst)")
    for j in range(n - 1):
        label = f"settles: {n - 1} approvers paid (worst)" if j == n - 2 else None
        r.run(ProcessApproval(people[j], now + 1 + j, "big", h(500), True), label)
    now += 20
    r.run(SubmitMessage(people[0], now, "big", h(600)))
    r.run(RequestPublic(people[0], now, "big", h(600)), f"{n - 1} voters (worst)")
    r.run(Divest(people[3], now, "big", CHOIR), f"{n} co-authors")
    for key, values in r.samples.items():
        samples[key] += values
    return samples


def throughput(image: bytes, steps: int, run_length: int = 2000, seeds: int = 4) -> dict[str, float]:
    """Steps per CPU second (the goals are per core, and the machine is shared), on the very same steps: the soak
    in lockstep (model, every invariant, program, the entries each step touched compared, the attack oracle, the
    whole snapshots at the end of every run) and its two halves on their own: the program alone (each world
    replayed on a fresh `ProgramDriver`, genesis included as in the soak, attack transactions sent without the
    oracle) and the model alone (the same worlds generated, attacks drawn, every invariant checked). The halves'
    CPU seconds added give the lockstep's floor: what it would cost if comparing the two, the oracle and the
    lockstep's bookkeeping cost nothing. Plain LiteSVM transfers for scale. `steps` are split over soak seeds 1 to
    `seeds`: one seed's worlds weigh a step by what that stream happens to build (a change of the attack stream
    once moved both rates by a quarter at one seed and by nothing over six)."""
    per_seed = max(1, steps // seeds)
    total = {"lockstep": [0, 0.0], "program": [0, 0.0], "model": [0, 0.0]}
    for seed in range(1, seeds + 1):
        for name, (done, cpu) in _seed_throughput(image, per_seed, run_length, seed).items():
            total[name][0] += done
            total[name][1] += cpu
    rates = {name: done / cpu for name, (done, cpu) in total.items()}
    (alone_steps, alone_cpu), model_cpu = total["program"], total["model"][1]
    return {**rates, "floor": alone_steps / (alone_cpu + model_cpu), "plain": _plain_rate(image)}


def _seed_throughput(image: bytes, steps: int, run_length: int, seed: int) -> dict[str, tuple[int, float]]:
    """One seed's soak in lockstep, and the same steps on the program alone and on the model alone: (steps, CPU s)
    of each."""
    from bench_properties import checked_rate, plain_rate, soak_worlds

    from choir_model.ops import invalid_time
    from properties.attacks import NEUTRAL, attack_transaction, is_attack, model_step, prepare_neutral
    from properties.soak import soak

    cpu = time.process_time
    started = cpu()
    worlds = [world for _, world in soak_worlds(steps, seed, run_length, attacks=True, vary=False)]
    generated = cpu() - started  # the generator, its attack draws and the model's steps, no invariant checked
    applied = [(Params(), [s for s in map(model_step, world) if s is not None]) for world in worlds]
    n_applied = sum(len(world) for _, world in applied)
    checks = n_applied / checked_rate(applied) - n_applied / plain_rate(applied)  # the checker's own cost

    started = cpu()
    result = soak(steps, seed, driver_factory=lambda: ProgramDriver(image=image), run_length=run_length)
    lockstep_cpu = cpu() - started
    if result.failure is not None:
        raise RuntimeError(f"lockstep found a difference: {result.failure}")

    started = cpu()
    for world in worlds:
        driver = ProgramDriver(image=image)
        for step in world:
            if not is_attack(step):
                driver.apply(step)
            elif step.kind in NEUTRAL:  # type: ignore[attr-defined]
                prepare_neutral(driver, step)  # type: ignore[arg-type]
                driver.apply(step.base)  # type: ignore[attr-defined]
            elif invalid_time(driver.last_now, step.now, driver.params) is None:  # as `run_attack` skips it
                instructions, signers = attack_transaction(driver, step)  # type: ignore[arg-type]
                driver.send(instructions, signers, now=step.now)
        driver.close()
    alone_cpu = cpu() - started
    n = sum(map(len, worlds))
    return {"lockstep": (result.steps, lockstep_cpu), "program": (n, alone_cpu), "model": (n, generated + checks)}


def _plain_rate(image: bytes) -> float:
    """Plain LiteSVM transfers per CPU second, for scale."""
    cpu = time.process_time
    driver = ProgramDriver(image=image)
    svm = driver.transport.svm
    payer = driver.transport.payer
    to = Keypair().pubkey()
    blockhash: Hash = svm.latest_blockhash()
    started = cpu()
    count = 2000
    for i in range(count):
        ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to, lamports=1_000_000 + i))
        message = Message.new_with_blockhash([ix], payer.pubkey(), blockhash)
        svm.send_transaction(Transaction.populate(message, [Signature.default()]))
    return count / (cpu() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Choir program compute units and lockstep throughput")
    parser.add_argument("--steps", type=int, default=20000, help="steps for the throughput runs (over all seeds)")
    parser.add_argument("--seeds", type=int, default=4, help="soak seeds the throughput steps are split over")
    parser.add_argument("--only-throughput", action="store_true", help="skip the compute-unit table")
    args = parser.parse_args(argv)
    if args.steps < args.seeds or args.seeds < 1:
        parser.error("--seeds must be at least 1 and --steps at least --seeds")
    image = default_program_image()
    worst_all: dict[str, int] = {}
    if not args.only_throughput:
        samples = measure(image)
        by_ix: dict[str, list[tuple[str, list[int]]]] = defaultdict(list)
        for (ix, label), values in samples.items():
            by_ix[ix].append((label, values))
        order = [
            "initialize",
            "open_member",
            "fund_member",
            "create_thread",
            "submit_message",
            "request_public",
            "submit_spec",
            "process_approval",
            "expire_approval",
            "divest_tokens",
        ]
        print(f"program: {len(image)} bytes")
        print(f"{'instruction':<18} {'case':<40} {'median':>7} {'max':>7}  goal")
        for ix in order:
            for label, values in sorted(by_ix.get(ix, []), key=lambda item: max(item[1])):
                worst = max(values)
                worst_all[ix] = max(worst_all.get(ix, 0), worst)
                goal = GOAL_HOT if ix in HOT else GOAL_ANY
                mark = "ok" if worst <= goal else "OVER"
                print(f"{ix:<18} {label:<40} {int(statistics.median(values)):>7} {worst:>7}  <{goal} {mark}")
    rates = throughput(image, args.steps, seeds=args.seeds)
    print()
    print(f"lockstep steps per CPU second (model + program, touched entries): {rates['lockstep']:.0f}")
    print(f"program alone on the same steps, per CPU second:                 {rates['program']:.0f}")
    print(f"model alone on the same steps (generated, every invariant):      {rates['model']:.0f}")
    print(f"floor: program alone + model alone, nothing compared:            {rates['floor']:.0f}")
    print(f"plain LiteSVM transfers per CPU second (same run):               {rates['plain']:.0f}")
    ratio = rates["lockstep"] / rates["program"]
    print(f"lockstep / program alone:                                        {ratio:.2f}")
    print(f"lockstep / floor:                                                {rates['lockstep'] / rates['floor']:.2f}")
    over = [ix for ix, worst in worst_all.items() if worst > (GOAL_HOT if ix in HOT else GOAL_ANY)]
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
