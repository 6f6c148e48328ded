"""Markdown table of teach.py results: one row per representation, nearest mean / nearest demonstration per shots.

usage: /usr/bin/python3 table.py /work/notes/fs/teach-fruits-c5.json [more.json ...]
"""
import json
import sys

rows = [r for f in sys.argv[1:] for r in json.load(open(f))]
shots = sorted({r['shots'] for r in rows})
reps = list(dict.fromkeys(r['representation'] for r in rows))
print('| representation | ' + ' | '.join(f'{s}-shot mean | {s}-shot demo' for s in shots) + ' |')
print('|---|' + '---|---|' * len(shots))
for rep in reps:
    cells = []
    for s in shots:
        r = next((r for r in rows if r['representation'] == rep and r['shots'] == s), None)
        cells += [f"{r['nearest_mean']:.3f}", f"{r['nearest_demo']:.3f}"] if r else ['', '']
    print(f'| {rep} | ' + ' | '.join(cells) + ' |')
