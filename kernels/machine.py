"""The generic state-machine kernel: every module, every patient, event-driven.

One table-driven interpreter for all modules: the compiler (engine/compile.py) turns
module JSON into the arrays of `model` (a KernelModel named tuple), and this file runs
them. The semantics are written down in modules/SEMANTICS.md and checked against the
slow reference interpreter in tests/naive.py.

Patients are split into fixed blocks; `prange` runs blocks in parallel, each writing
events into its own slice of the output arrays. A block's content depends only on its
patients, so the output does not depend on the number of threads.
"""

import math

import numpy as np
from numba import njit, prange

from . import machine_codes as mc
from .options import NO_NRT_OPTIONS
from .rng import random_uniform
from .unowned import keep_alive, unowned

NEVER = np.int64(-(2**62))
FOREVER = np.int64(2**62)
MAX_DEPTH = 16
MAX_ACTIVE = 512
MAX_STEPS_PER_INSTANT = mc.MAX_STEPS_PER_INSTANT
# entered_at[s] packs the instant state s was last entered with how many times it was
# entered at that instant (t << INSTANT_BITS | count; count <= MAX_STEPS_PER_INSTANT + 1
# fits): one array read per state entry instead of two, 4-5% of the kernel's time.
INSTANT_BITS = 11
INSTANT_MASK = (1 << INSTANT_BITS) - 1
STACK_SIZE = 64
# Flags reported per block.
FLAG_OVERFLOW = 1
FLAG_LOOP = 2
FLAG_DEPTH = 4
FLAG_ACTIVE = 8

_START_EVENT = np.array(
    [
        mc.E_CONDITION_ONSET,
        mc.E_ALLERGY_ONSET,
        mc.E_MEDICATION_START,
        mc.E_CAREPLAN_START,
        mc.E_DEVICE_START,
    ],
    dtype=np.int8,
)
_END_EVENT = np.array(
    [mc.E_CONDITION_END, mc.E_ALLERGY_END, mc.E_MEDICATION_END, mc.E_CAREPLAN_END, mc.E_DEVICE_END],
    dtype=np.int8,
)
N_ENTRY_KINDS = 5


@njit(**NO_NRT_OPTIONS)
def _uniform(state_key, state, patient_id, visit, slot):
    counter = np.uint64(visit) * np.uint64(64) + np.uint64(slot)
    return random_uniform(state_key[state], patient_id, counter)


# Inlined at its call sites: out of line, every call passed its four arrays field by
# field (`python -m benchmarks.kernel_ab` against the out-of-line version, 10,000
# patients, 12 pairs: median ratio 0.895 and 0.833 in two runs; events identical).
@njit(**NO_NRT_OPTIONS, inline="always")
def sample(dist_kind, dist_params, dist_round, state_key, dist, state, patient_id, visit, slot):
    """A draw from distribution `dist` (SEMANTICS.md, Randomness), in its own units."""
    kind = dist_kind[dist]
    p = dist_params[dist]
    if kind == mc.D_EXACT:
        value = p[0]
    elif kind == mc.D_UNIFORM:
        value = p[0] + _uniform(state_key, state, patient_id, visit, slot) * (p[1] - p[0])
    elif kind == mc.D_GAUSSIAN:
        u1 = _uniform(state_key, state, patient_id, visit, slot)
        u2 = _uniform(state_key, state, patient_id, visit, slot + 32)
        z = math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)
        value = min(max(p[0] + p[1] * z, p[2]), p[3])
    elif kind == mc.D_EXPONENTIAL:
        value = -p[0] * math.log(1.0 - _uniform(state_key, state, patient_id, visit, slot))
    else:  # TRIANGULAR on (min, mode, max)
        u = _uniform(state_key, state, patient_id, visit, slot)
        low, mode, high = p[0], p[1], p[2]
        if high <= low:
            value = low
        elif u < (mode - low) / (high - low):
            value = low + math.sqrt(u * (high - low) * (mode - low))
        else:
            value = high - math.sqrt((1.0 - u) * (high - low) * (high - mode))
    if dist_round[dist] == 1:
        # Halves away from zero; "+ 0.0" turns a rounded -0.0 into 0.0.
        value = math.copysign(math.floor(abs(value) + 0.5), value) + 0.0
    return value


@njit(**NO_NRT_OPTIONS)
def duration_seconds(
    dist_kind, dist_params, dist_round, dist_scale, state_key, dist, state, patient_id, visit
):
    if dist < 0:
        return np.int64(0)
    value = sample(dist_kind, dist_params, dist_round, state_key, dist, state, patient_id, visit, 1)
    seconds = math.floor(value * dist_scale[dist])
    return np.int64(max(seconds, 0.0))


@njit(**NO_NRT_OPTIONS)
def _compare(value, reference, operator):
    if operator == mc.OP_EQ:
        return value == reference
    if operator == mc.OP_NE:
        return value != reference
    if operator == mc.OP_LT:
        return value < reference
    if operator == mc.OP_LE:
        return value <= reference
    if operator == mc.OP_GT:
        return value > reference
    return value >= reference


@njit(**NO_NRT_OPTIONS, inline="always")
def _attribute_holds(kind, value, wanted_kind, operator, reference):
    """An Attribute condition on a value of type `kind` (SEMANTICS.md, Conditions)."""
    if operator == mc.OP_IS_NIL:
        return kind == mc.T_NIL
    if operator == mc.OP_NOT_NIL:
        return kind != mc.T_NIL
    if kind == mc.T_NIL:
        return False
    if kind != wanted_kind:  # different kinds: only != holds
        return operator == mc.OP_NE
    return _compare(value, reference, operator)


@njit(**NO_NRT_OPTIONS, inline="always")
def _prior_state_holds(entered, window, time):
    """A PriorState condition: the state was entered (`entered`, NEVER if not), within
    `window` seconds before `time` when the window is not negative (SEMANTICS.md)."""
    return entered != NEVER and (window < 0.0 or float(entered) >= time - window)


@njit(**NO_NRT_OPTIONS)
def _handle_is_active(handle, act_state, act_visit, n_active):
    state = np.int64(handle) // mc.HANDLE_SCALE
    visit = np.int64(handle) % mc.HANDLE_SCALE
    for i in range(n_active):
        if act_state[i] == state and act_visit[i] == visit:
            return True
    return False


def _evaluate(
    model,
    first,
    last,
    t,
    birth,
    is_male,
    race,
    hispanic,
    ses,
    attr_val,
    attr_type,
    active_count,
    act_state,
    act_visit,
    n_active,
    obs_val,
    obs_time,
    prior_time,
    stack,
):
    """Run one condition program (postfix), instructions [first, last), and return its
    truth at time t.

    An operand that decides its And/Or (engine/compile.py short_circuit_exits) skips the
    rest of it: conditions have no side effects, so only the work changes."""
    top = 0
    n_entry = model.sizes[1]
    code = model.ins_code
    i = first
    while i < last:
        op = code[i, mc.INS_OP]
        a = code[i, mc.INS_A]
        operator = code[i, mc.INS_OPERATOR]
        n = code[i, mc.INS_N]
        x = model.ins_x[i]
        if op == mc.C_TRUE:
            result = True
        elif op == mc.C_FALSE:
            result = False
        elif op == mc.C_AGE:
            result = _compare(float(t - birth), x, operator)
        elif op == mc.C_GENDER:
            result = is_male == a
        elif op == mc.C_RACE:
            result = hispanic == 1 if a == mc.RACE_HISPANIC else race == a
        elif op == mc.C_SES:
            result = ses == a
        elif op == mc.C_ATTRIBUTE:
            result = _attribute_holds(attr_type[a], attr_val[a], n, operator, x)
        elif op == mc.C_ACTIVE_CODES:
            result = False
            for j in range(n):
                if active_count[operator * n_entry + model.slot_list[a + j]] > 0:
                    result = True
                    break
        elif op == mc.C_ACTIVE_ATTRIBUTE:
            result = attr_type[a] == mc.T_HANDLE and _handle_is_active(
                attr_val[a], act_state, act_visit, n_active
            )
        elif op == mc.C_OBSERVATION:
            latest = NEVER
            value = np.nan
            for j in range(n):
                slot = model.slot_list[a + j]
                if obs_time[slot] > latest:
                    latest = obs_time[slot]
                    value = obs_val[slot]
            is_nil = latest == NEVER or math.isnan(value)
            if operator == mc.OP_IS_NIL:
                result = is_nil
            elif operator == mc.OP_NOT_NIL:
                result = not is_nil
            else:
                result = not is_nil and _compare(value, x, operator)
        elif op == mc.C_PRIOR_STATE:
            result = _prior_state_holds(prior_time[a], x, float(t))
        elif op == mc.C_TIME:
            result = _compare(float(t), x, operator)
        elif op == mc.C_AND:
            result = True
            for _ in range(n):
                top -= 1
                result = result and stack[top]
        elif op == mc.C_OR:
            result = False
            for _ in range(n):
                top -= 1
                result = result or stack[top]
        elif op == mc.C_NOT:
            top -= 1
            result = not stack[top]
        else:  # AT LEAST a of n
            count = 0
            for _ in range(n):
                top -= 1
                if stack[top]:
                    count += 1
            result = count >= a
        while code[i, mc.INS_EXIT] >= 0 and result == (code[i, mc.INS_EXIT_ON] == 1):
            top = code[i, mc.INS_EXIT_TOP]
            i = code[i, mc.INS_EXIT]
        stack[top] = result
        top += 1
        i += 1
    return stack[top - 1]


# One condition program evaluator, compiled twice: out of line for the guard call sites,
# and inlined into _choose, where conditional transitions test option after option and
# each out-of-line call would pay for its long argument list.
evaluate = njit(**NO_NRT_OPTIONS)(_evaluate)
_evaluate_inline = njit(**NO_NRT_OPTIONS, inline="always")(_evaluate)


@njit(**NO_NRT_OPTIONS)
def next_threshold(model, condition, t, birth):
    """The next time after t at which an Age or Date part of the condition can flip."""
    best = FOREVER
    for i in range(model.cond_start[condition], model.cond_start[condition + 1]):
        op = model.ins_code[i, mc.INS_OP]
        if op == mc.C_AGE or op == mc.C_TIME:
            moment = np.int64(math.ceil(model.ins_x[i]))
            if op == mc.C_AGE:
                moment += birth
            operator = model.ins_code[i, mc.INS_OPERATOR]
            if operator == mc.OP_GT or operator == mc.OP_LE:
                moment += 1
            if t < moment < best:
                best = moment
    return best


@njit(**NO_NRT_OPTIONS)
def simulate_patient(
    model,
    p,
    patient_id,
    birth,
    is_male,
    race,
    hispanic,
    ses,
    death_time,
    init_slots,
    init_values,
    init_types,
    horizon,
    window_start,
    visits,
    entered_at,
    attr_val,
    attr_type,
    active_count,
    act_state,
    act_visit,
    act_kind,
    act_slot,
    obs_val,
    obs_time,
    prior_time,
    cur,
    wake,
    status,
    resume,
    enc_state,
    enc_visit,
    enc_owned,
    call_stack,
    depth,
    stack,
    out_i32,
    out_time,
    out_value,
    base,
    count,
    capacity,
):
    """Simulate one patient's life; returns (events written, flags)."""
    # Bound once, for short names (with NRT off, a field read no longer costs refcounts).
    model_value_unread = model.value_unread
    model_dist_kind = model.dist_kind
    model_dist_params = model.dist_params
    model_dist_round = model.dist_round
    model_dist_scale = model.dist_scale
    model_state_key = model.state_key
    model_module_initial = model.module_initial
    model_sizes = model.sizes
    model_slot_list = model.slot_list
    model_state_row = model.state_row
    model_state_num = model.state_num
    model_value_arg = model.value_arg
    model_value_const = model.value_const
    model_value_obs_slot = model.value_obs_slot
    model_value_rng_slot = model.value_rng_slot
    model_value_source = model.value_source
    model_value_vital_attr = model.value_vital_attr
    model_cond_time_only = model.cond_time_only
    n_modules = model_module_initial.size
    n_entry = model_sizes[1]
    visits[:] = 0
    entered_at[:] = NEVER
    attr_type[:] = mc.T_NIL
    attr_val[:] = 0.0
    active_count[:] = 0
    obs_time[:] = NEVER
    obs_val[:] = np.nan
    prior_time[:] = NEVER
    for k in range(init_slots.size):
        attr_type[init_slots[k]] = init_types[p, k]
        attr_val[init_slots[k]] = init_values[p, k]
    for m in range(n_modules):
        cur[m] = model_module_initial[m]
        wake[m] = birth
        status[m] = mc.M_RUNNABLE
        resume[m] = 0
        enc_state[m] = -1
        enc_visit[m] = -1
        enc_owned[m] = 0
        depth[m] = 0
    n_active = 0
    death_state = -1
    death_visit = 0
    death_enc_state = -1
    death_enc_visit = -1
    death_reason = -1
    wellness_state = -1
    wellness_visit = -1
    wellness_time = NEVER
    flags = 0

    while True:
        # The runnable (or guard-waiting) module with the earliest wake time, lowest index on ties.
        m = -1
        t = FOREVER
        for k in range(n_modules):
            if (status[k] == mc.M_RUNNABLE or status[k] == mc.M_GUARD) and wake[k] < t:
                t = wake[k]
                m = k
        if m < 0 or t >= horizon or t >= death_time:
            break
        s = cur[m]
        if status[m] == mc.M_GUARD:  # woken by an Age/Date threshold: test again
            condition = model_state_row[s, 0]
            holds = _guard_holds(
                model,
                model_state_row[s, mc.ST_GUARD_ROW],
                condition,
                t,
                birth,
                is_male,
                race,
                hispanic,
                ses,
                attr_val,
                attr_type,
                active_count,
                act_state,
                act_visit,
                n_active,
                obs_val,
                obs_time,
                prior_time,
                stack,
            )
            if not holds:
                wake[m] = next_threshold(model, condition, t, birth)
                continue
            status[m] = mc.M_RUNNABLE
        # -- advance module m at time t until it blocks -------------------------------
        entering = resume[m] == 0
        resume[m] = 0
        while True:
            if entering:
                aux = model_state_row[s]  # columns 0 to 5: the state's parameters
                # Only states on a cycle that can close at one instant can loop, and only
                # some states read their visit number: the compiler marks which counts
                # each state needs (ST_COUNT); the others go uncounted.
                counts = aux[mc.ST_COUNT]
                if counts & mc.COUNT_INSTANT:
                    stamp = entered_at[s]
                    if (stamp >> INSTANT_BITS) == t:
                        stamp += 1
                    else:
                        stamp = (t << INSTANT_BITS) + 1
                    entered_at[s] = stamp
                    if (stamp & INSTANT_MASK) > MAX_STEPS_PER_INSTANT:
                        flags |= FLAG_LOOP
                        status[m] = mc.M_DONE
                        break
                visit = 0
                if counts & mc.COUNT_VISITS:
                    visit = visits[s]
                    visits[s] = visit + 1
                if aux[mc.ST_PRIOR] >= 0:
                    prior_time[aux[mc.ST_PRIOR]] = t
                kind = aux[mc.ST_KIND]
                if kind == mc.S_SIMPLE:
                    pass  # half of all entries (routers): nothing to do but transition
                elif kind == mc.S_TERMINAL:
                    if depth[m] == 0:
                        status[m] = mc.M_DONE
                        break
                    depth[m] -= 1
                    s = call_stack[m, depth[m]]
                    entering = False
                    continue
                elif kind == mc.S_CALL_SUBMODULE:
                    if depth[m] >= MAX_DEPTH:
                        flags |= FLAG_DEPTH
                        status[m] = mc.M_DONE
                        break
                    call_stack[m, depth[m]] = s
                    depth[m] += 1
                    s = aux[0]
                    continue
                elif kind == mc.S_DELAY:
                    pause = duration_seconds(
                        model_dist_kind,
                        model_dist_params,
                        model_dist_round,
                        model_dist_scale,
                        model_state_key,
                        aux[0],
                        s,
                        patient_id,
                        visit,
                    )
                    if pause > 0:
                        cur[m] = s
                        wake[m] = t + pause
                        resume[m] = 1
                        break
                elif kind == mc.S_GUARD:
                    holds = _guard_holds(
                        model,
                        aux[mc.ST_GUARD_ROW],
                        aux[0],
                        t,
                        birth,
                        is_male,
                        race,
                        hispanic,
                        ses,
                        attr_val,
                        attr_type,
                        active_count,
                        act_state,
                        act_visit,
                        n_active,
                        obs_val,
                        obs_time,
                        prior_time,
                        stack,
                    )
                    if not holds:
                        cur[m] = s
                        status[m] = mc.M_GUARD
                        wake[m] = next_threshold(model, aux[0], t, birth)
                        resume[m] = 1
                        break
                elif kind == mc.S_SET_ATTRIBUTE:
                    slot = aux[0]
                    source = aux[1]
                    if source == mc.V_CONSTANT:
                        attr_type[slot] = aux[3]
                        attr_val[slot] = model_state_num[s]
                    elif source == mc.V_ATTRIBUTE:
                        attr_type[slot] = attr_type[aux[2]]
                        attr_val[slot] = attr_val[aux[2]]
                    elif source == mc.V_DISTRIBUTION:
                        attr_type[slot] = mc.T_NUMBER
                        attr_val[slot] = sample(
                            model_dist_kind,
                            model_dist_params,
                            model_dist_round,
                            model_state_key,
                            aux[2],
                            s,
                            patient_id,
                            visit,
                            2,
                        )
                    else:
                        attr_type[slot] = mc.T_NIL
                        attr_val[slot] = 0.0
                elif kind == mc.S_COUNTER:
                    slot = aux[0]
                    base_value = attr_val[slot] if attr_type[slot] == mc.T_NUMBER else 0.0
                    attr_type[slot] = mc.T_NUMBER
                    attr_val[slot] = base_value + model_state_num[s]
                elif kind == mc.S_ENCOUNTER:
                    if aux[0] == 1:
                        if wellness_time == t:  # one started at this instant: join it
                            enc_state[m] = wellness_state
                            enc_visit[m] = wellness_visit
                            enc_owned[m] = 0
                        else:  # wait for the next one (joined where it starts, below)
                            cur[m] = s
                            status[m] = mc.M_WELLNESS
                            wake[m] = FOREVER
                            resume[m] = 1
                            break
                    else:
                        enc_state[m] = s
                        enc_visit[m] = visit
                        enc_owned[m] = 1
                        reason = _reason(
                            model_state_row, aux[2], aux[3], visits, attr_val, attr_type
                        )
                        count = _emit(
                            mc.E_ENCOUNTER_START,
                            t,
                            s,
                            visit,
                            0,
                            np.nan,
                            s,
                            visit,
                            reason,
                            p,
                            window_start,
                            out_i32,
                            out_time,
                            out_value,
                            base,
                            count,
                            capacity,
                        )
                        if aux[1] == 0:  # class "wellness": waiting modules join it now
                            wellness_state = s
                            wellness_visit = visit
                            wellness_time = t
                            for k in range(n_modules):
                                if status[k] == mc.M_WELLNESS:
                                    status[k] = mc.M_RUNNABLE
                                    wake[k] = t
                                    enc_state[k] = s
                                    enc_visit[k] = visit
                                    enc_owned[k] = 0
                elif kind == mc.S_ENCOUNTER_END:
                    if enc_state[m] >= 0 and enc_owned[m] == 1:
                        count = _emit(
                            mc.E_ENCOUNTER_END,
                            t,
                            s,
                            visit,
                            0,
                            np.nan,
                            enc_state[m],
                            enc_visit[m],
                            -1,
                            p,
                            window_start,
                            out_i32,
                            out_time,
                            out_value,
                            base,
                            count,
                            capacity,
                        )
                    enc_state[m] = -1
                    enc_visit[m] = -1
                    enc_owned[m] = 0
                elif kind == mc.S_ENTRY_START:
                    entry_kind = aux[0]
                    if n_active < MAX_ACTIVE:
                        act_state[n_active] = s
                        act_visit[n_active] = visit
                        act_kind[n_active] = entry_kind
                        act_slot[n_active] = aux[1]
                        n_active += 1
                        active_count[entry_kind * n_entry + aux[1]] += 1
                    else:
                        flags |= FLAG_ACTIVE
                    reason = _reason(model_state_row, aux[3], aux[4], visits, attr_val, attr_type)
                    if aux[2] >= 0:
                        attr_type[aux[2]] = mc.T_HANDLE
                        attr_val[aux[2]] = float(s * mc.HANDLE_SCALE + visit)
                    count = _emit(
                        _START_EVENT[entry_kind],
                        t,
                        s,
                        visit,
                        0,
                        np.nan,
                        enc_state[m],
                        enc_visit[m],
                        reason,
                        p,
                        window_start,
                        out_i32,
                        out_time,
                        out_value,
                        base,
                        count,
                        capacity,
                    )
                elif kind == mc.S_ENTRY_END:
                    entry_kind = aux[0]
                    selector = aux[1]
                    target = -1
                    target_visit = -1
                    if selector == mc.END_BY_ATTRIBUTE:
                        if attr_type[aux[2]] == mc.T_HANDLE:
                            handle = np.int64(attr_val[aux[2]])
                            target = handle // mc.HANDLE_SCALE
                            target_visit = handle % mc.HANDLE_SCALE
                    i = 0
                    while i < n_active:
                        ends = False
                        if act_kind[i] == entry_kind:
                            if selector == mc.END_BY_ATTRIBUTE:
                                ends = act_state[i] == target and act_visit[i] == target_visit
                            elif selector == mc.END_BY_STATE:
                                ends = act_state[i] == aux[2]
                            else:
                                for j in range(aux[3]):
                                    if model_slot_list[aux[2] + j] == act_slot[i]:
                                        ends = True
                        if not ends:
                            i += 1
                            continue
                        count = _emit(
                            _END_EVENT[entry_kind],
                            t,
                            s,
                            visit,
                            0,
                            np.nan,
                            act_state[i],
                            act_visit[i],
                            -1,
                            p,
                            window_start,
                            out_i32,
                            out_time,
                            out_value,
                            base,
                            count,
                            capacity,
                        )
                        active_count[act_kind[i] * n_entry + act_slot[i]] -= 1
                        for j in range(i, n_active - 1):
                            act_state[j] = act_state[j + 1]
                            act_visit[j] = act_visit[j + 1]
                            act_kind[j] = act_kind[j + 1]
                            act_slot[j] = act_slot[j + 1]
                        n_active -= 1
                elif kind == mc.S_OBSERVATION:
                    if aux[2] == 1:
                        count = _emit(
                            mc.E_REPORT,
                            t,
                            s,
                            visit,
                            0,
                            np.nan,
                            enc_state[m],
                            enc_visit[m],
                            -1,
                            p,
                            window_start,
                            out_i32,
                            out_time,
                            out_value,
                            base,
                            count,
                            capacity,
                        )
                    for v in range(aux[0], aux[1]):
                        if t < window_start and model_value_unread[v] == 1:
                            # Not exported and read by nothing: skipping it changes no
                            # other draw (draws are counter-based), only saves the work.
                            continue
                        source = model_value_source[v]
                        value = np.nan
                        if source == mc.V_DISTRIBUTION:
                            value = sample(
                                model_dist_kind,
                                model_dist_params,
                                model_dist_round,
                                model_state_key,
                                model_value_arg[v],
                                s,
                                patient_id,
                                visit,
                                model_value_rng_slot[v],
                            )
                        elif source == mc.V_ATTRIBUTE:
                            if attr_type[model_value_arg[v]] == mc.T_NUMBER:
                                value = attr_val[model_value_arg[v]]
                        elif source == mc.V_CONSTANT:
                            value = model_value_const[v]
                        # The latest recording wins; one without a number makes it nil.
                        if model_value_obs_slot[v] >= 0:
                            obs_val[model_value_obs_slot[v]] = value
                            obs_time[model_value_obs_slot[v]] = t
                        vital = model_value_vital_attr[v]
                        if vital >= 0:
                            attr_type[vital] = mc.T_NIL if math.isnan(value) else mc.T_NUMBER
                            attr_val[vital] = 0.0 if math.isnan(value) else value
                        count = _emit(
                            mc.E_OBSERVATION,
                            t,
                            s,
                            visit,
                            v - aux[0],
                            value,
                            enc_state[m],
                            enc_visit[m],
                            -1,
                            p,
                            window_start,
                            out_i32,
                            out_time,
                            out_value,
                            base,
                            count,
                            capacity,
                        )
                elif kind == mc.S_PROCEDURE:
                    took = np.nan
                    if aux[0] >= 0:
                        took = float(
                            duration_seconds(
                                model_dist_kind,
                                model_dist_params,
                                model_dist_round,
                                model_dist_scale,
                                model_state_key,
                                aux[0],
                                s,
                                patient_id,
                                visit,
                            )
                        )
                    reason = _reason(model_state_row, aux[1], aux[2], visits, attr_val, attr_type)
                    if aux[3] >= 0:
                        attr_type[aux[3]] = mc.T_HANDLE
                        attr_val[aux[3]] = float(s * mc.HANDLE_SCALE + visit)
                    count = _emit(
                        mc.E_PROCEDURE,
                        t,
                        s,
                        visit,
                        0,
                        took,
                        enc_state[m],
                        enc_visit[m],
                        reason,
                        p,
                        window_start,
                        out_i32,
                        out_time,
                        out_value,
                        base,
                        count,
                        capacity,
                    )
                elif kind == mc.S_IMMUNIZATION:
                    count = _emit(
                        mc.E_IMMUNIZATION,
                        t,
                        s,
                        visit,
                        0,
                        np.nan,
                        enc_state[m],
                        enc_visit[m],
                        -1,
                        p,
                        window_start,
                        out_i32,
                        out_time,
                        out_value,
                        base,
                        count,
                        capacity,
                    )
                elif kind == mc.S_DEATH:
                    dies_at = t + duration_seconds(
                        model_dist_kind,
                        model_dist_params,
                        model_dist_round,
                        model_dist_scale,
                        model_state_key,
                        aux[0],
                        s,
                        patient_id,
                        visit,
                    )
                    if dies_at < death_time:
                        death_time = dies_at
                        death_state = s
                        death_visit = visit
                        death_enc_state = enc_state[m]
                        death_enc_visit = enc_visit[m]
                        death_reason = _reason(
                            model_state_row, aux[1], aux[2], visits, attr_val, attr_type
                        )
                    if death_time <= t:
                        status[m] = mc.M_DONE
                        break
            # -- leave state s by its transition -------------------------------------------
            entering = True
            # Most transitions are direct: skip the call (and its long argument list).
            nxt = model_state_row[s, mc.ST_DIRECT]
            if nxt >= 0:
                s = nxt
                continue
            nxt = _choose(
                model,
                s,
                visits[s] - 1,
                t,
                patient_id,
                birth,
                is_male,
                race,
                hispanic,
                ses,
                attr_val,
                attr_type,
                active_count,
                act_state,
                act_visit,
                n_active,
                obs_val,
                obs_time,
                prior_time,
                stack,
            )
            if nxt < 0:
                status[m] = mc.M_DONE
                break
            s = nxt
        if death_time <= t:
            break
        # Guards re-test whenever something they read may have changed. One that reads only
        # the time cannot have changed before its own wake time, when it is tested anyway;
        # when every Guard of the model is such (model_sizes[4] == 0), none is re-tested.
        for k in range(n_modules if model_sizes[4] == 1 else 0):
            if status[k] == mc.M_GUARD:
                condition = model_state_row[cur[k], 0]
                if model_cond_time_only[condition] == 1:
                    continue
                if _guard_holds(
                    model,
                    model_state_row[cur[k], mc.ST_GUARD_ROW],
                    condition,
                    t,
                    birth,
                    is_male,
                    race,
                    hispanic,
                    ses,
                    attr_val,
                    attr_type,
                    active_count,
                    act_state,
                    act_visit,
                    n_active,
                    obs_val,
                    obs_time,
                    prior_time,
                    stack,
                ):
                    status[k] = mc.M_RUNNABLE
                    wake[k] = t
    if death_time < horizon:
        count = _emit(
            mc.E_DEATH,
            death_time,
            death_state,
            death_visit,
            0,
            np.nan,
            death_enc_state,
            death_enc_visit,
            death_reason,
            p,
            window_start,
            out_i32,
            out_time,
            out_value,
            base,
            count,
            capacity,
        )
    return count, flags


@njit(**NO_NRT_OPTIONS, inline="always")  # the Guard tests
def _guard_holds(
    model,
    guard_row,
    condition,
    t,
    birth,
    is_male,
    race,
    hispanic,
    ses,
    attr_val,
    attr_type,
    active_count,
    act_state,
    act_visit,
    n_active,
    obs_val,
    obs_time,
    prior_time,
    stack,
):
    """Whether a Guard's condition holds: by its pair of test rows where it has them
    (engine/compile_rows.py guard_tests: the Guard's row, then one that never holds, so
    the scan finds the first exactly when the condition holds), else interpreted."""
    if guard_row >= 0:
        return guard_row == _first_matching_row(
            model.branch_head,
            model.branch_test,
            guard_row,
            guard_row + 2,
            t,
            birth,
            is_male,
            attr_val,
            attr_type,
            prior_time,
        )
    return evaluate(
        model,
        model.cond_start[condition],
        model.cond_start[condition + 1],
        t,
        birth,
        is_male,
        race,
        hispanic,
        ses,
        attr_val,
        attr_type,
        active_count,
        act_state,
        act_visit,
        n_active,
        obs_val,
        obs_time,
        prior_time,
        stack,
    )


@njit(**NO_NRT_OPTIONS)
def _reason(state_row, attribute, state, visits, attr_val, attr_type):
    """The ConditionOnset state of a `reason`: an attribute's condition handle first,
    then the named ConditionOnset state if entered (SEMANTICS.md); -1 for none.

    It takes the state rows rather than the model: an out-of-line call passes every
    array argument field by field, and the model has dozens."""
    if attribute >= 0 and attr_type[attribute] == mc.T_HANDLE:
        held = np.int64(attr_val[attribute]) // mc.HANDLE_SCALE
        if (
            state_row[held, mc.ST_KIND] == mc.S_ENTRY_START
            and state_row[held, 0] == mc.ENTRY_CONDITION
        ):
            return held
    if state >= 0 and visits[state] > 0:
        return state
    return -1


@njit(**NO_NRT_OPTIONS, inline="always")  # the branch scan, and Guards
def _first_matching_row(
    heads, tests, first, last, t, birth, is_male, attr_val, attr_type, prior_time
):
    """The first branch in [first, last) whose test row (engine/compile_rows.py) holds,
    else the last: the branch the interpreter would choose, found without it. The scan
    reads each branch's 32-byte head (age range, gender) and its full row only where
    the head holds and the row tests more."""
    age_seconds = float(t - birth)
    time = float(t)
    for b in range(first, last):
        head = heads[b]
        if not (age_seconds >= head[mc.HEAD_AGE_LOW] and age_seconds < head[mc.HEAD_AGE_HIGH]):
            continue
        if head[mc.HEAD_GENDER] >= 0.0 and head[mc.HEAD_GENDER] != is_male:
            continue
        if head[mc.HEAD_MORE] == 0.0:
            return b
        row = tests[b]
        if not (time >= row[mc.ROW_TIME_LOW] and time < row[mc.ROW_TIME_HIGH]):
            continue
        matches = True
        for column in range(mc.ROW_ATTRIBUTES, mc.ROW_PRIORS, mc.ROW_ATTRIBUTE_WIDTH):
            slot = np.int64(row[column])
            if slot < 0:
                break
            if not _attribute_holds(
                attr_type[slot],
                attr_val[slot],
                np.int64(row[column + 1]),
                np.int64(row[column + 2]),
                row[column + 3],
            ):
                matches = False
                break
        if not matches:
            continue
        for column in range(mc.ROW_PRIORS, mc.ROW_WIDTH, mc.ROW_PRIOR_WIDTH):
            slot = np.int64(row[column])
            if slot < 0:
                break
            held = _prior_state_holds(prior_time[slot], row[column + 2], time)
            if held != (row[column + 1] == 1.0):
                matches = False
                break
        if matches:
            return b
    return last - 1


@njit(**NO_NRT_OPTIONS, inline="always")  # one call site, a hot one
def _choose(
    model,
    s,
    visit,
    t,
    patient_id,
    birth,
    is_male,
    race,
    hispanic,
    ses,
    attr_val,
    attr_type,
    active_count,
    act_state,
    act_visit,
    n_active,
    obs_val,
    obs_time,
    prior_time,
    stack,
):
    """The next state after s (SEMANTICS.md, Transitions); -1 when no option holds."""
    first_branch = model.state_row[s, mc.ST_BRANCH_FIRST]
    last_branch = model.state_row[s, mc.ST_BRANCH_LAST]
    if first_branch == last_branch:
        return -1
    chosen = last_branch - 1  # no option holds: the last one is the fallback
    if model.state_row[s, mc.ST_ROWS] == 1:
        chosen = _first_matching_row(
            model.branch_head,
            model.branch_test,
            first_branch,
            last_branch,
            t,
            birth,
            is_male,
            attr_val,
            attr_type,
            prior_time,
        )
        first_branch = last_branch  # decided: skip the interpreter below
    for b in range(first_branch, last_branch):
        branch = model.branch_row[b]
        if branch[mc.BR_COND] < 0 or _evaluate_inline(
            model,
            branch[mc.BR_INS_FIRST],
            branch[mc.BR_INS_LAST],
            t,
            birth,
            is_male,
            race,
            hispanic,
            ses,
            attr_val,
            attr_type,
            active_count,
            act_state,
            act_visit,
            n_active,
            obs_val,
            obs_time,
            prior_time,
            stack,
        ):
            chosen = b
            break
    for b in range(chosen, chosen + 1):
        branch = model.branch_row[b]
        if branch[mc.BR_TARGET] >= 0:
            return branch[mc.BR_TARGET]
        first = branch[mc.BR_CHOICE_FIRST]
        last = branch[mc.BR_CHOICE_LAST]
        u = _uniform(model.state_key, s, patient_id, visit, 0)
        cumulative = 0.0
        for c in range(first, last):
            probability = model.choice_prob[c]
            attribute = model.choice_prob_attr[c]
            if attribute >= 0 and attr_type[attribute] == mc.T_NUMBER:
                probability = attr_val[attribute]
            cumulative += probability
            if u < cumulative:
                return model.choice_target[c]
        return model.choice_target[last - 1]
    return -1  # unreachable: the loop above runs once


@njit(**NO_NRT_OPTIONS)
def _emit(
    kind,
    t,
    state,
    visit,
    sub,
    value,
    enc_state,
    enc_visit,
    reason,
    p,
    window_start,
    out_i32,
    out_time,
    out_value,
    base,
    count,
    capacity,
):
    """Append one event to this block's slice; point events before the window are dropped."""
    point_event = (
        kind == mc.E_ENCOUNTER_START
        or kind == mc.E_PROCEDURE
        or kind == mc.E_OBSERVATION
        or kind == mc.E_REPORT
        or kind == mc.E_IMMUNIZATION
    )
    if point_event and t < window_start:
        return count
    if count >= capacity:
        return capacity + 1  # overflow: the caller retries with more room
    i = base + count
    out_i32[i, 0] = p
    out_i32[i, 1] = kind
    out_i32[i, 2] = state
    out_i32[i, 3] = visit
    out_i32[i, 4] = sub
    out_i32[i, 5] = enc_state
    out_i32[i, 6] = enc_visit
    out_i32[i, 7] = reason
    out_time[i] = t
    out_value[i] = value
    return count + 1


@njit(cache=True, nogil=True)
def _simulate_block(
    model,
    b,
    patient_ids,
    birth,
    is_male,
    race,
    hispanic,
    ses,
    death_time,
    init_slots,
    init_values,
    init_types,
    horizon,
    window_start,
    block_size,
    capacity,
    scratch,
    out_i32,
    out_time,
    out_value,
):
    """Simulate block b's patients one after the other in the same scratch arrays;
    returns (events written, flags)."""
    (
        visits,
        entered_at,
        attr_val,
        attr_type,
        active_count,
        act_state,
        act_visit,
        act_kind,
        act_slot,
        obs_val,
        obs_time,
        prior_time,
        cur,
        wake,
        status,
        resume,
        enc_state,
        enc_visit,
        enc_owned,
        call_stack,
        depth,
        stack,
    ) = scratch
    base = b * capacity
    count = 0
    flags = 0
    for p in range(b * block_size, min(patient_ids.size, (b + 1) * block_size)):
        count, patient_flags = simulate_patient(
            model,
            p,
            patient_ids[p],
            birth[p],
            is_male[p],
            race[p],
            hispanic[p],
            ses[p],
            death_time[p],
            init_slots,
            init_values,
            init_types,
            horizon,
            window_start,
            visits,
            entered_at,
            attr_val,
            attr_type,
            active_count,
            act_state,
            act_visit,
            act_kind,
            act_slot,
            obs_val,
            obs_time,
            prior_time,
            cur,
            wake,
            status,
            resume,
            enc_state,
            enc_visit,
            enc_owned,
            call_stack,
            depth,
            stack,
            out_i32,
            out_time,
            out_value,
            base,
            count,
            capacity,
        )
        flags |= patient_flags
        if count > capacity:
            flags |= FLAG_OVERFLOW
            count = capacity
            break
    return count, flags


@njit(cache=True, nogil=True, parallel=True)
def simulate_cohort(
    model,
    patient_ids,
    birth,
    is_male,
    race,
    hispanic,
    ses,
    death_time,
    init_slots,
    init_values,
    init_types,
    horizon,
    window_start,
    block_size,
    capacity,
    out_i32,
    out_time,
    out_value,
    out_count,
    out_flags,
):
    """Simulate every patient; block b writes events [b*capacity, b*capacity + out_count[b]).

    simulate_patient and its helpers are compiled without reference counting
    (kernels/options.py NO_NRT_OPTIONS). The block loop still counts references, so it
    runs on views without an owner (kernels/unowned.py): no atomic counts of the shared
    model arrays bouncing between cores. The owners here outlive the views.
    """
    n = patient_ids.size
    n_blocks = (n + block_size - 1) // block_size
    n_states = model.state_kind.size
    n_attrs = model.sizes[0]
    n_entry = model.sizes[1]
    n_obs = model.sizes[2]
    n_prior = model.sizes[3]
    n_modules = model.module_initial.size
    for b in prange(n_blocks):
        scratch = (
            np.zeros(n_states, dtype=np.int32),  # visits
            np.zeros(n_states, dtype=np.int64),  # entered_at: instant << INSTANT_BITS | entries
            np.zeros(n_attrs, dtype=np.float64),  # attr_val
            np.zeros(n_attrs, dtype=np.int8),  # attr_type
            np.zeros(N_ENTRY_KINDS * n_entry, dtype=np.int32),  # active_count
            np.zeros(MAX_ACTIVE, dtype=np.int64),  # act_state
            np.zeros(MAX_ACTIVE, dtype=np.int64),  # act_visit
            np.zeros(MAX_ACTIVE, dtype=np.int32),  # act_kind
            np.zeros(MAX_ACTIVE, dtype=np.int32),  # act_slot
            np.zeros(n_obs, dtype=np.float64),  # obs_val
            np.zeros(n_obs, dtype=np.int64),  # obs_time
            np.zeros(n_prior, dtype=np.int64),  # prior_time
            np.zeros(n_modules, dtype=np.int64),  # cur
            np.zeros(n_modules, dtype=np.int64),  # wake
            np.zeros(n_modules, dtype=np.int8),  # status
            np.zeros(n_modules, dtype=np.int8),  # resume
            np.zeros(n_modules, dtype=np.int64),  # enc_state
            np.zeros(n_modules, dtype=np.int64),  # enc_visit
            np.zeros(n_modules, dtype=np.int8),  # enc_owned
            np.zeros((n_modules, MAX_DEPTH), dtype=np.int64),  # call_stack
            np.zeros(n_modules, dtype=np.int64),  # depth
            np.zeros(STACK_SIZE, dtype=np.bool_),  # stack
        )
        count, flags = _simulate_block(
            unowned(model),
            b,
            patient_ids,
            birth,
            is_male,
            race,
            hispanic,
            ses,
            death_time,
            init_slots,
            init_values,
            init_types,
            horizon,
            window_start,
            block_size,
            capacity,
            unowned(scratch),
            unowned(out_i32),
            unowned(out_time),
            unowned(out_value),
        )
        keep_alive(scratch)
        out_count[b] = count
        out_flags[b] = flags
