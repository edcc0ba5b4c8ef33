#!/usr/bin/env python3
"""Why a live replay missed: each miss classified against the contention trace, and the spread
of engine time / prediction. Usage: scripts/replay_misses.py RESULTS.csv TRACE.csv

Classes of a missed request (trace level at its start and end, the sensor's reading):
  onset        idle trace at start, a burst by its end (a planner that senses cannot see it)
  sensed-idle  inside a burst that the sensor read as < 0.2 cores
  idle         idle trace throughout
  loaded       a burst the sensor saw
"""
import csv
import sys


def rows(path):
    return list(csv.DictReader(line for line in open(path) if not line.startswith('#')))


def trace_levels(path):
    pts = [r for r in rows(path)]
    return [(float(r['t_s']), float(r['cpu_busy_cores']), float(r['mem_bw_gbps'])) for r in pts]


def level(trace, t):
    cur = trace[0]
    for p in trace:
        if p[0] <= t:
            cur = p
        else:
            break
    return cur[1] > 0 or cur[2] > 0


def quantiles(v):
    v = sorted(v)
    n = len(v)
    q = lambda f: v[min(n - 1, int(f * n))]
    return f"n {n}  p10 {q(.1):.2f}  median {q(.5):.2f}  p90 {q(.9):.2f}  p95 {q(.95):.2f}  p99 {q(.99):.2f}  max {v[-1]:.2f}"


def main():
    results, trace = rows(sys.argv[1]), trace_levels(sys.argv[2])
    classes = {}
    for r in results:
        start, end = float(r['start_s']), float(r['end_s'])
        busy_start, busy_end = level(trace, start), level(trace, end)
        if r['outcome'] == 'missed':
            sensed = float(r['sensed_cpu_cores'])
            c = ('onset' if not busy_start and busy_end else 'idle' if not busy_start
                 else 'sensed-idle' if sensed < 0.2 else 'loaded')
            classes.setdefault(c, []).append(r['request'])
    print(f"{len(results)} requests; misses by class:")
    for c, ids in sorted(classes.items()):
        print(f"  {c:12s} {len(ids):3d}  requests {' '.join(ids)}")
    onset = sum(1 for r in results if not level(trace, float(r['start_s'])) and level(trace, float(r['end_s'])))
    print(f"requests that start at idle and end in a burst: {onset} of {len(results)} ({100 * onset / len(results):.1f}%)")
    shed = [r for r in results if r['outcome'] != 'rejected' and int(r.get('ran_knobs') or r['knobs']) < int(r['knobs'])]
    if shed:
        print(f"deadline guard shed blocks in {len(shed)} requests: "
              f"{sum(1 for r in shed if float(r['latency_ms']) <= float(r['budget_ms']))} of them met their budget")
    # Engine time against the prediction for the plan as chosen: requests that ran it whole
    # (not rejected, nothing shed, so the prediction is for what ran).
    whole = [r for r in results if r['outcome'] != 'rejected' and r not in shed]
    ratio = lambda r: float(r['service_ms']) / float(r['predicted_ms'])
    idle = [ratio(r) for r in whole if not level(trace, float(r['start_s'])) and not level(trace, float(r['end_s']))
            and float(r['sensed_cpu_cores']) == 0]
    busy = [ratio(r) for r in whole if float(r['sensed_cpu_cores']) > 0]
    if idle:
        print("engine time / prediction, idle throughout:", quantiles(idle))
    if busy:
        print("engine time / prediction, sensed load:   ", quantiles(busy))


if __name__ == '__main__':
    main()
