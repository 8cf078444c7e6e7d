"""How `bank-marketing-subset.csv.gz` was made from the full UCI file (kept for the record; the
tests read only the subset). Run: python make_subset.py PATH/bank-additional-full.csv"""

import sys

import numpy as np
import pandas as pd

MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

frame = pd.read_csv(sys.argv[1], sep=";")
month = frame["month"].map(MONTHS.index).to_numpy()
# the file is in time order: a new year starts each time the month goes backwards
year = 2008 + np.concatenate([[0], np.cumsum(np.diff(month) < 0)])
early = np.flatnonzero((year == 2008) & (month <= MONTHS.index("jul")))
np.random.default_rng(20081).shuffle(early)
parts = {
    "reference": early[:6000],  # the training period: May-July 2008
    "control": early[6000:9000],  # held out from the same months
    "later": np.flatnonzero(year == 2010),  # March-November 2010
}
columns = [c for c in frame.columns if c not in ("duration", "pdays", "month")]
subset = pd.concat([frame.iloc[np.sort(rows)][columns].assign(part=part) for part, rows in parts.items()])
subset.to_csv("bank-marketing-subset.csv.gz", index=False, compression={"method": "gzip", "mtime": 0})
