"""The study of a tuning job (a job with `trainingInput.hyperparameters`): its passes.

A tuning job's workload is a group (Workload.Kind.GROUP) and each trial a member workload of
its own, queued and admitted against the project's quota like any job: maxParallelTrials is how
many may wait or run at once, the quota how many run. A pass, under the group's row lock:

1. reads what each active trial reported: its master's log carries the metric lines that the
   trainer runtime (training_app/runtime/trainer.py) copies from cloudml-hypertune's file, as
   Katib's stdout collector reads a trial's log; a trial that ended takes its outcome;
2. asks the median pruner whether a running trial should stop early, and cancels it if so;
3. ends the study when maxFailedTrials trials failed, or when every trial it will run ended;
4. else submits the next suggestions of training_app.tuning, each planned as its own job
   (training_app.services.training_plan with its `--name=value` arguments), persisted with its
   workload in the pass's transaction: a worker killed mid-pass rolls it all back, and the next
   pass suggests again from the same rows, so no trial is lost or run twice;
5. moves the group's state from its trials': QUEUED until one is admitted, then PREPARING and
   RUNNING, and at the end SUCCEEDED (any trial succeeded) or FAILED.

Passes run when the job is created (its first trials, in the creating transaction: what cannot
be queued refuses the job) and from the beat (training_app.tasks.advance_studies). A resumed
study (resumePreviousJobId) gives the sampler the earlier job's ended trials first.
"""

from __future__ import annotations

from dataclasses import replace

from django.db import transaction

from mlplatform.compute.models import Workload
from mlplatform.compute.selectors import workload_logs
from mlplatform.compute.services import workload_cancel, workload_group_update, workload_submit
from mlplatform.core.errors import ApplicationError
from training_app import tuning
from training_app.hyperparameters import HyperparameterSpec
from training_app.inputs import training_input_from_json
from training_app.models import Job, Trial
from training_app.runtime.trainer import METRIC_LINE, NEVER_REPORTED, hypertune_metrics
from training_app.selectors import studies_to_advance, trial_record
from training_app.specs import TrialRun

State = Workload.State
PLATFORM_FAILED_TRIALS = 3  # maxFailedTrials 0: the study fails when its first 3 trials all failed


def study_advance(job: Job) -> None:
    """One pass over a tuning job's study (see the module's docstring)."""
    from training_app.services import training_plan  # services calls this back at create: a cycle

    spec = training_input_from_json(job.input).hyperparameters
    reports = _reports(job, spec)  # backend I/O, before any row is locked
    with transaction.atomic():
        group = Workload.objects.select_for_update().get(pk=job.workload_id)
        trials = list(job.trials.select_related("workload").order_by("number"))
        if group.is_finished and all(t.state != Trial.State.ACTIVE for t in trials):
            return
        for trial in trials:
            if trial.state == Trial.State.ACTIVE and trial.pk in reports:
                _observe(trial, spec, *reports[trial.pk])
        if group.state == State.CANCELLING and all(t.state != Trial.State.ACTIVE for t in trials):
            workload_group_update(workload=group, state=State.CANCELLED, reason=group.reason)
        if group.is_finished or group.state == State.CANCELLING:  # cancelled: no trial starts
            return
        history = _history(job, spec)
        records = [*history, *(_renumbered(trial_record(t), len(history) + t.number) for t in trials)]
        _stop_early(spec, trials, records)

        failed = [t for t in trials if t.state == Trial.State.FAILED]
        if _too_many_failed(spec, trials, failed):
            reason = f"{len(failed)} trials failed (maxFailedTrials {spec.max_failed_trials or 'unset'}): "
            _end(group, trials, State.FAILED, reason + f"trial {failed[-1].trial_id}: {failed[-1].message}")
            return

        active = sum(t.state == Trial.State.ACTIVE for t in trials)
        room = min(spec.max_parallel_trials - active, spec.max_trials - len(trials))
        made = []
        if room > 0:
            made = tuning.suggestions(spec, records, room, seed=job.pk)
            for suggestion in made:
                number = suggestion.number - len(history)
                try:
                    plan = training_plan(
                        project=job.project,
                        job_id=job.job_id,
                        input=job.input,
                        labels=job.labels,
                        trial=TrialRun(id=str(number + 1), args=suggestion.args(spec)),
                    )
                    workload = workload_submit(
                        project=job.project,
                        spec=plan.spec,
                        owner=job.created_by,
                        priority=plan.priority,
                        max_wait_seconds=plan.max_wait_seconds,
                        member_of=group,
                    )
                except ApplicationError as exc:
                    if not trials:  # the job's first pass: the job is refused with the reason
                        raise
                    _end(group, trials, State.FAILED, f"trial {number + 1} cannot run: {exc.message}")
                    return
                trials.append(
                    Trial.objects.create(
                        job=job,
                        number=number,
                        workload=workload,
                        params=suggestion.params,
                        system_attrs=suggestion.system_attrs,
                    )
                )
        if all(t.state != Trial.State.ACTIVE for t in trials) and not made:
            _end_done(group, trials)
        else:
            workload_group_update(workload=group, **_progress(trials, spec))


def _reports(job: Job, spec: HyperparameterSpec) -> dict[int, tuple[dict[str, float], bool]]:
    """{trial: (what its master reported so far, whether its workload had ended before that was
    read)} for the job's active trials."""
    reports = {}
    for trial in job.trials.filter(state=Trial.State.ACTIVE).select_related("workload"):
        reports[trial.pk] = (_reported(trial.workload, spec.metric_tag), trial.workload.is_finished)
    return reports


def _observe(trial: Trial, spec: HyperparameterSpec, metrics: dict[str, float], read_after_end: bool) -> None:
    """Bring an active trial up to date: its metrics so far, and its outcome once it ended and
    its log was read after that (else its last lines may be missing: the next pass reads them)."""
    workload = trial.workload
    changed = metrics != trial.intermediate
    trial.intermediate = metrics
    if workload.is_finished and read_after_end:
        changed = True
        if workload.state == State.SUCCEEDED and metrics:
            trial.state, trial.objective = Trial.State.SUCCEEDED, list(metrics.values())[-1]
        elif workload.state == State.SUCCEEDED:
            trial.state, trial.message = Trial.State.FAILED, NEVER_REPORTED.format(tag=spec.metric_tag)
        elif workload.state == State.CANCELLED and trial.stopping:
            trial.state = Trial.State.STOPPED_EARLY
        elif workload.state == State.CANCELLED:
            trial.state, trial.message = Trial.State.CANCELLED, workload.reason
        else:
            trial.state, trial.message = Trial.State.FAILED, workload.reason
    if changed:
        trial.save(update_fields=["intermediate", "state", "objective", "message"])


def _reported(workload: Workload, tag: str) -> dict[str, float]:
    """{training step: value} of the metric `tag` that the trial's master reported so far (its
    last value per step), read from its log; nothing before it reached a backend."""
    if not workload.backend:
        return {}
    try:
        lines = workload_logs(workload=workload, role=None, index=0, tail=None, follow=False)
        text = "\n".join(line[len(METRIC_LINE) :] for line in lines if line.startswith(METRIC_LINE))
    except ApplicationError:
        return {}
    return {m["trainingStep"]: m["objectiveValue"] for m in hypertune_metrics(text, tag)}


def _stop_early(spec: HyperparameterSpec, trials: list[Trial], records: list[tuning.TrialRecord]) -> None:
    if not spec.early_stopping:
        return
    by_number = {record.number: record for record in records}
    offset = len(records) - len(trials)
    for trial in trials:
        if trial.state != Trial.State.ACTIVE or trial.stopping or trial.workload.state != State.RUNNING:
            continue
        if tuning.should_stop(spec, records, by_number[trial.number + offset]):
            step = max(trial.intermediate, key=int)
            trial.stopping = True
            trial.message = (
                f"stopped early: its {spec.metric_tag} at step {step} ({trial.intermediate[step]:g}) was "
                "worse than the median of the earlier trials there"
            )
            trial.save(update_fields=["stopping", "message"])
            workload_cancel(workload=trial.workload, reason=trial.message)


def _too_many_failed(spec: HyperparameterSpec, trials: list[Trial], failed: list[Trial]) -> bool:
    if spec.max_failed_trials:
        return len(failed) >= spec.max_failed_trials
    ended = [t for t in trials if t.state != Trial.State.ACTIVE]
    return len(failed) == len(ended) >= min(PLATFORM_FAILED_TRIALS, spec.max_trials)


def _end_done(group: Workload, trials: list[Trial]) -> None:
    """Every trial ended: the study succeeded when one did (stopped early counts, as Google's)."""
    done = [t for t in trials if t.state in (Trial.State.SUCCEEDED, Trial.State.STOPPED_EARLY)]
    if done:
        _end(group, trials, State.SUCCEEDED, f"{len(done)} of {len(trials)} trials succeeded")
    else:
        first = trials[0] if trials else None
        why = f": trial {first.trial_id}: {first.message}" if first else ""
        _end(group, trials, State.FAILED, f"every trial failed{why}")


def _end(group: Workload, trials: list[Trial], state: str, reason: str) -> None:
    for trial in trials:
        if trial.state == Trial.State.ACTIVE and not trial.workload.is_finished:
            workload_cancel(workload=trial.workload, reason=f"the job ended: {reason}")
    workload_group_update(workload=group, state=state, reason=reason)


def _progress(trials: list[Trial], spec: HyperparameterSpec) -> dict:
    """The group's state and reason while its study runs, from its trials' workloads."""
    states = [t.workload.state for t in trials if t.state == Trial.State.ACTIVE]
    ended = len(trials) - len(states)
    summary = f"{ended} of {spec.max_trials} trials ended, {states.count(State.RUNNING)} running"
    if ended or State.RUNNING in states or State.CANCELLING in states:
        return {"state": State.RUNNING, "reason": summary}
    if State.ADMITTED in states or State.STARTING in states:
        return {"state": State.STARTING, "reason": summary}
    waiting = next((t for t in trials if t.workload.state == State.QUEUED), None)
    reason = f"trial {waiting.trial_id}: {waiting.workload.reason}" if waiting else ""
    return {"state": State.QUEUED, "reason": reason}


def _history(job: Job, spec: HyperparameterSpec) -> list[tuning.TrialRecord]:
    """A resumed study's earlier trials that ended, numbered first, as the sampler's history."""
    if not spec.resume_previous_job_id:
        return []
    earlier = Trial.objects.filter(
        job__project_id=job.project_id, job__job_id=spec.resume_previous_job_id
    ).exclude(state=Trial.State.ACTIVE)
    earlier = earlier.select_related("workload").order_by("number")
    return [_renumbered(trial_record(t), i) for i, t in enumerate(earlier)]


def _renumbered(record: tuning.TrialRecord, number: int) -> tuning.TrialRecord:
    """The record as the sampler numbers it: after a resumed study's history."""
    return replace(record, number=number)


def studies_advance() -> int:
    """A pass over every tuning job still running, or with a trial whose end is not read yet."""
    jobs = studies_to_advance()
    for job in jobs:
        study_advance(job)
    return len(jobs)
