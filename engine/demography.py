"""Published rates used to fill patient columns that a scenario does not set itself.

Each constant carries its source; they are national figures that every scenario shares.
"""

import numpy as np

# Days per year in the Gregorian calendar, to turn a drawn age into a birth date.
DAYS_PER_YEAR = 365.2425

# Marital status by age: shares (married, divorced, widowed), the rest never married.
# Source: US Census Bureau, American Community Survey 2022 1-year, table S1201
# "Marital Status", national estimates by age group (rounded).
MARITAL_AGE_EDGES = np.array([15, 20, 35, 45, 55, 65, 200], dtype=np.float64)
MARITAL_SHARES = np.array(
    [
        [0.01, 0.001, 0.001],  # 15-19
        [0.32, 0.03, 0.002],  # 20-34
        [0.58, 0.10, 0.007],  # 35-44
        [0.60, 0.14, 0.017],  # 45-54
        [0.60, 0.16, 0.04],  # 55-64
        [0.55, 0.13, 0.22],  # 65+
    ]
)
MARITAL_CODES = ("M", "D", "W", "S")

# Share of adults holding a valid US passport: about 160 million valid passports for
# 258 million adults. Source: US Department of State, Bureau of Consular Affairs,
# "Reports and Statistics" (valid passports in circulation, 2022); Census 2020 adults.
PASSPORT_SHARE = 0.48

# Share of people living in their state of birth: 58.6%. Source: US Census Bureau,
# ACS 2019 1-year, table B05002 "Place of Birth by Nativity and Citizenship Status".
BORN_IN_STATE_OF_RESIDENCE = 0.586

# Minimum age for a driver's licence in most states (learner permits aside).
DRIVING_AGE = 16
ADULT_AGE = 18
EDUCATION_AGE = 25
MEDICARE_AGE = 65
# Share of addresses given a unit number: 26% of US housing units are in buildings of
# two or more units. Source: US Census Bureau, ACS 2022 1-year, table DP04 "Units in Structure".
UNIT_ADDRESS_SHARE = 0.26
# Share of adults with an advanced degree who use a professional suffix (MD, PhD, JD);
# a cosmetic choice, not a statistic.
PROFESSIONAL_SUFFIX_SHARE = 0.10
PROFESSIONAL_SUFFIXES = ("MD", "PhD", "JD")
# Share of people with a recorded middle name; a cosmetic choice, not a statistic.
MIDDLE_NAME_SHARE = 0.85
