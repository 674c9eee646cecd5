#!/usr/bin/env python3
"""netlab analyze: the report's figures from synthetic runs whose answers are known.

usage: analyze_test.py ANALYZE_PY

Builds a report directory by hand (the files tests/netlab/scenario.sh writes), runs
analyze.py on it and checks the table: utilisation of the ceiling, RTT increase over the
idle minimum, shares and Jain's index of two flows, byte-exactness (and its failure), and a
sub-run the binary could not run. Needs python3 and gnuplot (the plots are made too).
"""
import os
import subprocess
import sys
import tempfile

T0 = 1_000_000.0
RATE = 20
CEILING_BYTES_PER_BIN = RATE * 1e6 * 1024 / 1212 / 8 * 0.25  # curvecp at its ceiling, per 250 ms


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


def sub_run(path, flows, series, kind='alone', exact=True):
    """flows: NAME:TYPE:CLASS:START:STOP specs; series: name -> bytes per 250 ms bin."""
    meta = ['kind=%s' % kind, 'rate_mbit=%d' % RATE, 'rtt_ms=40', 'buffer_ms=100', 'loss=0', 'noisy=0',
            'base_rtt_p50=41', 'base_rtt_min=40.0', 'flows=' + ' '.join(flows), 'loadavg_before=1 1 1',
            'before_tbf_pkts=0', 'before_tbf_dropped=0', 'after_tbf_pkts=990', 'after_tbf_dropped=10',
            't0=%d' % T0]
    write(os.path.join(path, 'meta'), '\n'.join(meta) + '\n')
    for name, per_bin in series.items():
        lines = ['%.3f %d' % (T0 + 0.25 * (i + 1), per_bin(i)) for i in range(4 * 40)]
        total = sum(per_bin(i) for i in range(4 * 40))
        lines.append('total %d %s' % (total, 'ok' if exact else 'mismatch at 5'))
        write(os.path.join(path, name + '.series'), '\n'.join(lines) + '\n')
        write(os.path.join(path, name + '.gen'), 'bytes %d\n' % total)
        write(os.path.join(path, name + '.rc'), '0\n')
    # Pings every 20 ms: 42 ms, except every tenth at 60 ms (p50 +2 ms, p95 +20 ms).
    pings = ['[%.6f] 64 bytes from 10.77.2.2: icmp_seq=%d ttl=63 time=%s ms' % (T0 + 0.02 * i, i, '60.0' if i % 10 == 0 else '42.0')
             for i in range(1, 50 * 40)]
    write(os.path.join(path, 'ping.log'), '\n'.join(pings) + '\n')


def row(report, scenario, flows_text):
    for line in report.splitlines():
        cells = [c.strip() for c in line.split('|')]
        if len(cells) > 3 and cells[1] == scenario and cells[2] == flows_text:
            return cells[1:-1]
    raise AssertionError('no row %s / %s in:\n%s' % (scenario, flows_text, report))


def check(what, got, want):
    if got != want:
        raise AssertionError('%s: got %r, want %r' % (what, got, want))


def main():
    analyze = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix='netlab-analyze.') as report:
        write(os.path.join(report, 'env.txt'), 'duration=30\nruns=1\nlabel=test host\n')
        # alone: at the ceiling from 5 s on, so [10, 30] is 1.000; run 2 at half of it.
        for run, scale in (('run1', 1.0), ('run2', 0.5), ('run3', 1.0)):
            sub_run(os.path.join(report, 'runs', 'a_alone', run, 'curvecp'), ['c1:curvecp:normal:0:30'],
                    {'c1': lambda i, s=scale: int(CEILING_BYTES_PER_BIN * s) if i >= 20 else 0})
        write(os.path.join(report, 'runs', 'a_alone', 'kind'), 'alone\n')
        # two flows: 3:1 over [20, 40], one corrupted stream.
        sub_run(os.path.join(report, 'runs', 'b_two', 'run1', 'curvecp'),
                ['c1:curvecp:normal:0:40', 'c2:curvecp:normal:10:40'],
                {'c1': lambda i: 30000, 'c2': lambda i: 10000}, kind='two', exact=False)
        write(os.path.join(report, 'runs', 'b_two', 'kind'), 'two\n')
        # a sub-run the binary could not run.
        write(os.path.join(report, 'runs', 'c_w2', 'run1', 'curvecp', 'skipped'), 'curvecp binary lacks: connect --priority\n')
        write(os.path.join(report, 'runs', 'c_w2', 'kind'), 'w2_cubic\n')

        subprocess.run([sys.executable, analyze, report], check=True)
        text = open(os.path.join(report, 'report.md')).read()

        alone = row(text, 'a_alone', 'curvecp normal')
        check('alone util median (worst)', alone[3], '1.000 (0.500)')
        check('alone min 1 s', alone[4], '1.000 (0.500)')
        check('RTT +p50', alone[5], '+2.0 (+2.0)')
        check('RTT +p95', alone[6], '+20.0 (+20.0)')
        check('loss', alone[9], 'tbf drop 1.00%, random 0')
        check('byte-exact', alone[10], 'yes')
        check('runs', alone[11], '3')
        two = row(text, 'b_two', 'curvecp normal + curvecp normal')
        # Shares: wire rate / link; goodput 30000 B per 250 ms = 0.96 Mbit/s.
        share1 = 30000 * 4 * 8 / 1e6 * 1212 / 1024 / RATE
        share2 = 10000 * 4 * 8 / 1e6 * 1212 / 1024 / RATE
        check('two shares', two[7], '%.2f / %.2f' % (share1, share2))
        check('two Jain (3:1 gives 0.8)', two[8], '0.800 (0.800)')
        check('two byte-exact', two[10], '0 of 1')
        skipped = row(text, 'c_w2', 'curvecp')
        check('not run', skipped[2], 'NOT RUN: curvecp binary lacks: connect --priority')
        for name in ('a_alone.run1.curvecp.csv', 'b_two.run1.curvecp.csv'):
            header = open(os.path.join(report, 'csv', name)).readline().strip()
            if not header.startswith('t_s,c1_mbit'):
                raise AssertionError('csv header of %s: %s' % (name, header))
        for name in ('a_alone.curvecp.png', 'b_two.curvecp.png'):
            path = os.path.join(report, 'png', name)
            if not os.path.exists(path) or open(path, 'rb').read(4) != b'\x89PNG':
                raise AssertionError('no PNG ' + name)
    print('PASS: netlab analyze')


if __name__ == '__main__':
    main()
