"""What a source's cells may hold: the limits every reader (streaming, by spans, .xlsx) enforces."""

from __future__ import annotations

import csv

MAX_CELL_CHARS = 32_767  # the most a spreadsheet cell holds (Excel's limit)
csv.field_size_limit(MAX_CELL_CHARS)  # the csv module raises on a longer field, in any process
