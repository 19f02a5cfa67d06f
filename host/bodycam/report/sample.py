"""--sample N --seed S: N recordings per officer per week chosen at random
for a supervisor's review, the same every time for the same seed and the
same recordings (each officer-week draws from its own generator, seeded
with the seed, the officer and the week, over its recordings in a fixed
order), so the choice can be re-made and checked."""
import random


def new_seed():
    return random.SystemRandom().randrange(1, 10 ** 9)


def draw(trails, n, seed, window_ok=lambda r: True):
    """[recording] chosen: up to n per (officer, week), sorted."""
    groups = {}
    for t in trails:
        for r in t["recordings"]:
            if window_ok(r):
                groups.setdefault((r["officer"], r["week"]), []).append(r)
    out = []
    for (officer, week), recs in sorted(groups.items()):
        recs = sorted(recs, key=lambda r: (r["device"] or "", r.get("seq") or 0, r["clip"] or ""))
        rng = random.Random("%s|%s|%s" % (seed, officer, week))
        picked = recs if len(recs) <= n else rng.sample(recs, n)
        out.extend(sorted(picked, key=lambda r: (r["device"] or "", r["clip"] or "")))
    return out
