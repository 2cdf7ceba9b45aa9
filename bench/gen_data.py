"""Generate a seeded, clearly fictional contact CSV for benchmarks.

Phones are US numbers in the 555 exchange (+1 NPA 555-XXXX, the range film and TV use) and UK
Ofcom drama numbers (020 7946 0xxx, 0113 496 0xxx, ...), written in mixed formats: E.164,
spaced international, national. About 1% are invalid, 0.1% spreadsheet-mangled (4.41E+11)
and 1% re-appear later in another format (duplicates; a fifth of them with another
first name). E-mails use the reserved example.com/.org/.net domains.

    python3 bench/gen_data.py --rows 1000000 --out /tmp/contacts_1m.csv
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

AREA_CODES = (
    201, 202, 203, 205, 206, 207, 208, 210, 212, 213, 214, 215, 216, 217, 218, 219, 224, 225, 228,
    229, 231, 234, 239, 240, 248, 251, 252, 253, 254, 256, 260, 262, 267, 269, 270, 276, 281, 301,
    302, 303, 304, 305, 307, 308, 309, 310, 312, 313, 314, 315, 316, 317, 318, 319, 320, 321, 323,
    325, 330, 331, 334, 336, 337, 339, 347, 351, 352, 360, 361, 386, 401, 402, 404, 405, 406, 407,
    408, 409, 410, 412, 413, 414, 415, 417, 419, 423, 424, 425, 430, 432, 434, 435, 440, 443, 469,
    478, 479, 480, 484, 501, 502, 503, 504, 505, 507, 508, 509, 510, 512, 513, 515, 516, 517, 518,
    520, 530, 540, 541, 551, 559, 561, 562, 563, 567, 570, 571, 573, 574, 575, 580, 585, 586, 601,
    602, 603, 605, 606, 607, 608, 609, 610, 612, 614, 615, 616, 617, 618, 619, 620, 623, 626, 630,
    631, 636, 641, 646, 650, 651, 660, 661, 662, 678, 682, 701, 702, 703, 704, 706, 707, 708, 712,
    713, 714, 715, 716, 717, 718, 719, 720, 724, 727, 731, 732, 734, 740, 754, 757, 760, 763, 765,
    770, 772, 773, 774, 775, 781, 785, 786, 801, 802, 803, 804, 805, 806, 808, 810, 812, 813, 814,
    815, 816, 817, 818, 828, 830, 831, 832, 843, 845, 847, 848, 850, 856, 857, 858, 859, 860, 862,
    863, 864, 865, 870, 878, 901, 903, 904, 906, 907, 908, 909, 910, 912, 913, 914, 915, 916, 917,
    918, 919, 920, 925, 928, 931, 936, 937, 940, 941, 947, 949, 951, 952, 954, 956, 970, 971, 972,
    973, 978, 979, 980, 985, 989,
)
# Ofcom's numbers for TV and radio drama: (area code without 0, local prefix); 1,000 numbers each.
UK_DRAMA = (
    ("20", "7946 0"), ("113", "496 0"), ("114", "496 0"), ("115", "496 0"), ("116", "496 0"),
    ("117", "496 0"), ("118", "496 0"), ("121", "496 0"), ("131", "496 0"), ("141", "496 0"),
    ("151", "496 0"), ("161", "496 0"), ("191", "498 0"),
)
FIRST = ("Ada", "Ben", "Cleo", "Dev", "Eve", "Finn", "Gus", "Hana", "Ivo", "Jo", "Kai", "Lea", "Mo", "Nia")
LAST = ("Archer", "Brook", "Castle", "Dale", "Ember", "Frost", "Grove", "Hale", "Irwin", "Jett", "Knox")
DOMAINS = ("example.com", "example.org", "example.net")


class _Numbers:
    """Distinct numbers drawn without replacement (repeating only once a range is used up)."""

    def __init__(self, rng: random.Random, size: int, wanted: int) -> None:
        self.rng, self.size = rng, size
        self.order = rng.sample(range(size), min(size, wanted))
        self.next = 0

    def draw(self) -> int:
        if self.next == len(self.order):
            self.order, self.next = self.rng.sample(range(self.size), len(self.order)), 0
        self.next += 1
        return self.order[self.next - 1]


def _us_text(npa: int, line: int, style: int) -> str:
    if style == 0:
        return f"+1{npa}555{line:04d}"
    if style == 1:
        return f"+1 {npa}-555-{line:04d}"
    return f"({npa}) 555-{line:04d}"


def generate(rows: int, out: Path, seed: int = 20261123) -> None:
    """Write `rows` data rows (plus a header) to `out`."""
    rng = random.Random(seed)
    us = _Numbers(rng, len(AREA_CODES) * 10_000, rows)
    uk = _Numbers(rng, len(UK_DRAMA) * 1_000, rows // 50)
    recent: list[tuple[str, str, str, str, str]] = []
    with open(out, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["phone", "email", "first_name", "last_name", "country"])
        for i in range(rows):
            roll = rng.random()
            first, last = rng.choice(FIRST), rng.choice(LAST)
            email = f"{first}.{last}{i}@{rng.choice(DOMAINS)}"
            email = email.upper() if rng.random() < 0.05 else email.lower()
            if roll < 0.01 and recent:  # a duplicate written differently
                phone, email, first, last, country = rng.choice(recent)
                phone = phone.replace("-", " ") if "-" in phone else phone
                email = email.upper()
                if rng.random() < 0.2:  # ... and sometimes with another name: a conflicting duplicate
                    first = first + "e"
            elif roll < 0.02:  # invalid: too short
                phone, country = f"+1 {rng.choice(AREA_CODES)} 555 {rng.randrange(100):02d}", "US"
            elif roll < 0.021:  # a number a spreadsheet turned into a float
                phone, country = f"{rng.randrange(4, 5)}.{rng.randrange(10**6):06d}E+11", "GB"
            elif roll < 0.031:  # UK drama ranges
                pick = uk.draw()
                area, local = UK_DRAMA[pick // 1000]
                local_number = f"{local}{pick % 1000:03d}"
                phone = f"0{area} {local_number}" if rng.random() < 0.5 else f"+44 {area} {local_number}"
                country = "GB"
            else:
                pick = us.draw()
                npa, line = AREA_CODES[pick // 10_000], pick % 10_000
                phone, country = _us_text(npa, line, rng.randrange(3)), "US"
            row = (phone, email, first, last, country)
            if len(recent) < 1000:
                recent.append(row)
            elif rng.random() < 0.01:
                recent[rng.randrange(1000)] = row
            writer.writerow(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("/tmp/contacts_1m.csv"))
    parser.add_argument("--seed", type=int, default=20261123)
    args = parser.parse_args()
    generate(args.rows, args.out, args.seed)
    print(f"wrote {args.rows:,} rows to {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
