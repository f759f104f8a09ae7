"""Integer codes shared by the module compiler (engine/) and the state-machine kernel.

Plain module-level ints so Numba freezes them as compile-time constants.
"""

# State kinds.
S_INITIAL = 0
S_TERMINAL = 1
S_SIMPLE = 2
S_GUARD = 3
S_DELAY = 4
S_SET_ATTRIBUTE = 5
S_COUNTER = 6
S_CALL_SUBMODULE = 7
S_ENCOUNTER = 8
S_ENCOUNTER_END = 9
S_ENTRY_START = 10  # ConditionOnset, AllergyOnset, MedicationOrder, CarePlanStart, Device
S_ENTRY_END = 11  # ConditionEnd, MedicationEnd, CarePlanEnd, DeviceEnd
S_OBSERVATION = 12  # Observation, MultiObservation, DiagnosticReport
S_PROCEDURE = 13
S_IMMUNIZATION = 14
S_SYMPTOM = 15
S_DEATH = 16

# Entry kinds (what an S_ENTRY_START starts and an S_ENTRY_END ends).
ENTRY_CONDITION = 0
ENTRY_ALLERGY = 1
ENTRY_MEDICATION = 2
ENTRY_CAREPLAN = 3
ENTRY_DEVICE = 4

# Event kinds, in the order of the names in engine/events.py EVENT_KINDS.
E_ENCOUNTER_START = 0
E_ENCOUNTER_END = 1
E_CONDITION_ONSET = 2
E_CONDITION_END = 3
E_ALLERGY_ONSET = 4
E_ALLERGY_END = 5
E_MEDICATION_START = 6
E_MEDICATION_END = 7
E_CAREPLAN_START = 8
E_CAREPLAN_END = 9
E_PROCEDURE = 10
E_OBSERVATION = 11
E_REPORT = 12
E_IMMUNIZATION = 13
E_DEVICE_START = 14
E_DEVICE_END = 15
E_DEATH = 16

# Distribution kinds (durations and values).
D_NONE = 0
D_EXACT = 1
D_UNIFORM = 2
D_GAUSSIAN = 3
D_EXPONENTIAL = 4
D_TRIANGULAR = 5

# Value sources of an observation or SetAttribute.
V_NONE = 0  # nil / no numeric value (value_code observations)
V_DISTRIBUTION = 1
V_ATTRIBUTE = 2  # copy an attribute (also vital signs)
V_CONSTANT = 3  # a constant number or interned string

# Attribute value types.
T_NIL = 0
T_NUMBER = 1
T_TEXT = 2  # interned string id in the value
T_HANDLE = 3  # an entry handle: state * HANDLE_SCALE + visit
T_BOOL = 4  # 1.0 or 0.0; equal only to booleans

HANDLE_SCALE = 1 << 24

# Condition instruction opcodes (postfix programs).
C_TRUE = 0
C_FALSE = 1
C_AGE = 2  # (t - birth) op x
C_GENDER = 3  # is_male == a
C_RACE = 4  # race == a (a == RACE_HISPANIC: hispanic ethnicity)
C_SES = 5  # ses category == a
C_ATTRIBUTE = 6  # attribute a op (type b2, value x)
C_ACTIVE_CODES = 7  # any active entry of kind b2 with a code slot in list [a, a + n)
C_ACTIVE_ATTRIBUTE = 8  # entry held by attribute a is active
C_OBSERVATION = 9  # most recent value among obs slots in list [a, a + n) op x
C_PRIOR_STATE = 10  # prior-state slot a entered (within x seconds when x >= 0)
C_TIME = 11  # t op x (Date conditions compile to this)
C_AND = 12  # pops n, pushes all
C_OR = 13  # pops n, pushes any
C_NOT = 14
C_AT_LEAST = 15  # pops n, pushes count >= a

# The race code a Race condition uses for "hispanic" (which tests ethnicity); patients
# carry race codes 0-5 (engine/module_schema.py RACE_CODES).
RACE_HISPANIC = 6

# Comparison operators.
OP_EQ = 0
OP_NE = 1
OP_LT = 2
OP_LE = 3
OP_GT = 4
OP_GE = 5
OP_IS_NIL = 6
OP_NOT_NIL = 7

# More entries than this into one state at one instant stop the module (a zero-time loop).
MAX_STEPS_PER_INSTANT = 1000

# Module status.
M_RUNNABLE = 0
M_GUARD = 1
M_WELLNESS = 2
M_DONE = 3

# End-entry selectors.
END_BY_ATTRIBUTE = 0
END_BY_STATE = 1
END_BY_CODES = 2

# Columns of a condition instruction row (KernelModel.ins_code).
INS_OP = 0
INS_A = 1
INS_OPERATOR = 2
INS_N = 3
INS_EXIT = 4
INS_EXIT_TOP = 5
INS_EXIT_ON = 6
INS_WIDTH = 8

# Columns of a state row (KernelModel.state_row): everything a state entry reads, in one
# 64-byte row. Columns 0 to 5 are the state's parameters (state_aux) so `row[k]` reads them.
ST_KIND = 6
ST_PRIOR = 7  # prior-state slot, -1 for none
ST_DIRECT = 8  # target of a plain direct transition, -1 for none
ST_BRANCH_FIRST = 9  # branches [first, last) of any other transition
ST_BRANCH_LAST = 10
ST_ROWS = 11  # 1: scan the branches' test rows (engine/compile_rows.py) instead
ST_COUNT = 12  # what the kernel counts on entry: COUNT_* bits
ST_GUARD_ROW = 13  # a Guard's condition as a test row (branch_test index), -1 for none
# Bits of ST_COUNT. Counting is skipped where nothing could read the count.
COUNT_INSTANT = 1  # entries per instant: on a zero-time cycle (engine/compile_loops.py)
COUNT_VISITS = 2  # visits: read by a draw, an event or a handle (engine/compile_visits.py)
ST_WIDTH = 16

# Columns of a branch test row (KernelModel.branch_test, engine/compile_rows.py).
ROW_AGE_LOW = 0  # the age in seconds must be >= this
ROW_AGE_HIGH = 1  # and < this
ROW_GENDER = 2  # is_male must equal this; -1 for either
ROW_TIME_LOW = 3  # the time (Date conditions) must be >= this
ROW_TIME_HIGH = 4  # and < this
ROW_ATTRIBUTES = 5  # then Attribute tests (slot, type, operator, value); slot -1 ends them
ROW_ATTRIBUTE_WIDTH = 4
MAX_ROW_ATTRIBUTES = 3
ROW_PRIORS = ROW_ATTRIBUTES + ROW_ATTRIBUTE_WIDTH * MAX_ROW_ATTRIBUTES
# then PriorState tests (slot, 1 entered / 0 not, window in seconds or -1 for any time);
# slot -1 ends them
ROW_PRIOR_WIDTH = 3
MAX_ROW_PRIORS = 3
ROW_WIDTH = ROW_PRIORS + ROW_PRIOR_WIDTH * MAX_ROW_PRIORS

# Columns of a branch's head row (KernelModel.branch_head): the tests every scanned row
# starts with, 32 bytes a row so a scan reads two rows per cache line; the full test
# row is read only where the head holds and HEAD_MORE says it tests more.
HEAD_AGE_LOW = 0
HEAD_AGE_HIGH = 1
HEAD_GENDER = 2
HEAD_MORE = 3  # 1.0: the row also tests the time, attributes or prior states
HEAD_WIDTH = 4

# Columns of a branch row (KernelModel.branch_row).
BR_COND = 0  # condition, -1 for none
BR_INS_FIRST = 1  # the condition's instructions [first, last)
BR_INS_LAST = 2
BR_CHOICE_FIRST = 3  # choices [first, last)
BR_CHOICE_LAST = 4
BR_TARGET = 5  # the target of a single choice without an attribute probability, else -1
BR_WIDTH = 8
