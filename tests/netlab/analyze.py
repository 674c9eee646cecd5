#!/usr/bin/env python3
"""netlab analyze: turns the runs of tests/bench/netlab_report into report.md, CSV time
series and one PNG per scenario (gnuplot).

usage: analyze.py REPORT_DIR

Reads REPORT_DIR/runs/SCENARIO/runK/SUBRUN/ as tests/netlab/scenario.sh writes them and
REPORT_DIR/env.txt, REPORT_DIR/loadavg.log from the runner. Every figure is defined in
docs/NETLAB.md; the windows each scenario kind is judged on are in WINDOWS below.
"""
import glob
import json
import os
import re
import statistics
import subprocess
import sys

BIN = 0.25                      # seconds per sample of every throughput series
CURVECP_EFF = 1024 / 1212       # client message: data bytes per IP byte (TESTBED.md)
TCP_EFF = 1448 / 1500           # TCP with timestamps: MSS per IP byte at MTU 1500


def read_meta(path):
    meta = {}
    with open(path) as f:
        for line in f:
            if '=' in line:
                key, value = line.rstrip('\n').split('=', 1)
                if key in ('switch', 'switch_failed'):
                    meta.setdefault(key, []).append(value)
                else:
                    meta[key] = value
    return meta


def parse_flows(text):
    flows = []
    for spec in text.split():
        name, kind, cls, start, stop = spec.split(':')
        flows.append({'name': name, 'type': kind, 'class': cls, 'start': float(start), 'stop': float(stop)})
    return flows


def curvecp_samples(sub, flow, t0):
    """(t_end, bytes) per interval, byte-exactness, from the sink's series and the source."""
    samples, total, ok = [], None, False
    path = os.path.join(sub, flow['name'] + '.series')
    if os.path.exists(path):
        for line in open(path):
            parts = line.split()
            if parts and parts[0] == 'total':
                total, ok = int(parts[1]), parts[2] == 'ok'
            elif len(parts) == 2:
                samples.append((float(parts[0]) - t0, int(parts[1])))
    gen = read_number(os.path.join(sub, flow['name'] + '.gen'), r'bytes (\d+)')
    rc = read_number(os.path.join(sub, flow['name'] + '.rc'), r'(\d+)')
    exact = total is not None and ok and gen is not None and gen == total and rc == 0
    return samples, {'sent': gen, 'received': total, 'exact': exact, 'rc': rc}


def read_number(path, pattern):
    try:
        match = re.search(pattern, open(path).read())
        return int(match.group(1)) if match else None
    except OSError:
        return None


def tcp_samples(sub, flow, t0, rtt_ms):
    """(t_end, bytes) per interval from the iperf3 server's JSON (receiver side). iperf3's
    clock starts after its control exchange: the client's launch time plus about 3 RTTs."""
    samples, info = [], {'sent': None, 'received': None, 'exact': None, 'retransmits': None}
    try:
        data = json.load(open(os.path.join(sub, flow['name'] + '.iperf.json')))
        launch = float(open(os.path.join(sub, flow['name'] + '.launch')).read())
    except (OSError, ValueError):
        return samples, info
    origin = launch - t0 + 3 * rtt_ms / 1000
    for interval in data.get('intervals', []):
        s = interval['sum']
        samples.append((origin + s['end'], int(s['bytes'])))
    info['received'] = data.get('end', {}).get('sum_received', {}).get('bytes')
    try:
        client = json.load(open(os.path.join(sub, flow['name'] + '.client.json')))
        info['retransmits'] = client['end']['sum_sent'].get('retransmits')
    except (OSError, ValueError, KeyError):
        pass
    return samples, info


def ping_samples(sub, t0):
    out = []
    path = os.path.join(sub, 'ping.log')
    if os.path.exists(path):
        for line in open(path):
            m = re.match(r'\[(\d+\.\d+)\].*time=([0-9.]+) ms', line)
            if m:
                out.append((float(m.group(1)) - t0, float(m.group(2))))
    return out


def rate_mbit(samples, a, b):
    """Mean Mbit/s of the bytes whose interval ends in (a, b]."""
    if b <= a:
        return None
    return sum(n for t, n in samples if a < t <= b) * 8 / (b - a) / 1e6


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, max(0, int(round(p * len(values) + 0.5)) - 1))]


def jain(rates):
    rates = [r for r in rates if r is not None]
    if not rates or sum(rates) == 0:
        return None
    return sum(rates) ** 2 / (len(rates) * sum(r * r for r in rates))


def read_stalls(path):
    """curvecp_host_stalls' key=value line as floats; None without one."""
    if not os.path.exists(path):
        return None
    values = {}
    for item in open(path).read().split():
        key, _, value = item.partition('=')
        try:
            values[key] = float(value)
        except ValueError:
            pass
    return values if 'stalls_per_s' in values else None


STALL_KEYS = ('stalls_per_s', 'stall_p50_ms', 'stall_p90_ms', 'stall_p99_ms')
# Kinds the simulator can run (tests/sim/sim_scenario.h, scenario_netlab), and how close
# its figures must be to the testbed's to count as agreeing (docs/SIMULATOR.md).
SIM_KINDS = ('alone', 'cubic', 'two', 'bg_cubic', 'bg_two', 'w2_cubic')
SIM_TOLERANCE = {'util': 0.10, 'share': 0.10, 'jain': 0.05}


def simulate(sim_report, meta, kind, duration, stalls):
    """Runs sim_report --netlab on the scenario with the host's stalls; its median line."""
    spec = '%s:%s:%s:%s:%s' % (kind, meta['rate_mbit'], meta['rtt_ms'], meta['buffer_ms'], meta.get('loss', '0'))
    host = ','.join('%s=%.2f' % (k, stalls[k]) for k in STALL_KEYS) if stalls else 'quiet'
    cmd = [sim_report, '--netlab', spec, '--host', host, '--seeds', '3', '--duration', str(int(duration))]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=900).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        return {'error': str(e), 'command': cmd}
    line = next((l for l in out.splitlines() if l.startswith('median:')), '')
    r = {'command': cmd}
    m = re.search(r'util ([0-9.]+)', line)
    r['util'] = float(m.group(1)) if m else None
    m = re.search(r'shares ([0-9.]+)/([0-9.]+)', line)
    r['shares'] = [float(m.group(1)), float(m.group(2))] if m else None
    m = re.search(r'Jain ([0-9.]+)', line)
    r['jain'] = float(m.group(1)) if m else None
    if r['util'] is None:
        r['error'] = 'no median line from sim_report'
    return r


def sim_row(scen, kind, results, host, sim):
    """One row of the simulator-beside-the-testbed table; host: the median stalls or None."""
    def close(a, b, tol):
        return a is not None and b is not None and abs(a - b) <= tol
    util = median([r.get('util') for r in results]) if kind != 'bg_cubic' else None
    shares = [r.get('shares') for r in results if r.get('shares')]
    share0 = median([x[0] for x in shares]) if shares else None
    jain = median([r.get('jain') for r in results])
    host = 'quiet (no probe)' if not host else '%.1f/s, p50 %.1f, p99 %.1f ms' % (
        host['stalls_per_s'], host['stall_p50_ms'], host['stall_p99_ms'])
    if sim.get('error'):
        return '| %s | %s | %s | simulator failed: %s |' % (scen, host, fmt(util), sim['error']) + ' |' * 5
    checks = []
    if util is not None:
        checks.append(close(util, sim['util'], SIM_TOLERANCE['util']))
    if share0 is not None and sim.get('shares'):
        checks.append(close(share0, sim['shares'][0], SIM_TOLERANCE['share']))
    if jain is not None and sim.get('jain') is not None and kind in ('two', 'bg_two'):
        checks.append(close(jain, sim['jain'], SIM_TOLERANCE['jain']))
    verdict = 'yes' if checks and all(checks) else ('–' if not checks else 'NO')
    return '| %s | %s | %s | %s | %s | %s | %s | %s | %s |' % (
        scen, host, fmt(util), fmt(sim['util'] if kind != 'bg_cubic' else None), fmt(share0, '%.2f'),
        fmt(sim['shares'][0] if sim.get('shares') else None, '%.2f'), fmt(jain), fmt(sim.get('jain')), verdict)


class SubRun:
    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)
        self.skipped = None
        if os.path.exists(os.path.join(path, 'skipped')):
            self.skipped = open(os.path.join(path, 'skipped')).read().strip()
            return
        self.meta = read_meta(os.path.join(path, 'meta'))
        self.t0 = float(self.meta['t0'])
        self.rate = float(self.meta['rate_mbit'])
        self.rtt = float(self.meta['rtt_ms'])
        self.base = float(self.meta['base_rtt_min'])
        self.flows = parse_flows(self.meta['flows'])
        for flow in self.flows:
            if flow['type'] == 'curvecp':
                flow['samples'], flow['info'] = curvecp_samples(path, flow, self.t0)
                flow['eff'] = CURVECP_EFF
            else:
                flow['samples'], flow['info'] = tcp_samples(path, flow, self.t0, self.rtt)
                flow['eff'] = TCP_EFF
        self.pings = ping_samples(path, self.t0)
        self.end = max(f['stop'] for f in self.flows)
        self.stalls = read_stalls(os.path.join(path, 'host_stalls.txt'))

    def flow(self, name):
        return next(f for f in self.flows if f['name'] == name)

    def goodput(self, flow, a, b):
        return rate_mbit(flow['samples'], a, b)

    def util(self, flow, a, b):
        """Goodput over [a, b] as a share of the flow's own goodput ceiling."""
        g = self.goodput(flow, a, b)
        return None if g is None else g / (self.rate * flow['eff'])

    def share(self, flow, a, b):
        """The flow's wire rate (goodput / framing efficiency) as a share of the link."""
        g = self.goodput(flow, a, b)
        return None if g is None else g / flow['eff'] / self.rate

    def min_util_1s(self, flow, a, b):
        values = [self.util(flow, t, t + 1) for t in frange(a, b - 1, 1)]
        values = [v for v in values if v is not None]
        return min(values) if values else None

    def rtt_increase(self, a, b):
        values = [r for t, r in self.pings if a < t <= b]
        if not values:
            return None, None
        return percentile(values, 0.50) - self.base, percentile(values, 0.95) - self.base

    def counters(self):
        m = self.meta
        get = lambda key: int(m.get(key, 0) or 0)
        dropped = get('after_tbf_dropped') - get('before_tbf_dropped')
        pkts = get('after_tbf_pkts') - get('before_tbf_pkts')
        lost = get('after_box_lost') - get('before_box_lost')
        return {'tbf_dropped': dropped, 'tbf_pkts': pkts, 'random_lost': lost,
                'drop_rate': dropped / (pkts + dropped) if pkts + dropped else 0}


def frange(a, b, step):
    out, t = [], a
    while t <= b + 1e-9:
        out.append(t)
        t += step
    return out


def judge(sub, kind, duration):
    """The figures of one sub-run, by scenario kind (the windows are in docs/NETLAB.md)."""
    d = duration
    r = {'exact': all(f['info']['exact'] for f in sub.flows if f['type'] == 'curvecp') if
         any(f['type'] == 'curvecp' for f in sub.flows) else None}
    main = sub.flows[0]
    if kind == 'alone':
        a, b = 10, d
        r['util'] = sub.util(main, a, b)
        r['min1s'] = sub.min_util_1s(main, a, b)
    elif kind in ('cubic', 'w2_cubic'):
        a, b = 10, d
        cross = sub.flow('x1')
        r['shares'] = [sub.share(main, a, b), sub.share(cross, a, b)]
        r['ratio'] = ratio(r['shares'][0], r['shares'][1])
        r['jain'] = jain([sub.goodput(main, a, b), sub.goodput(cross, a, b)])
        r['goodput_share'] = goodput_share(sub.goodput(main, a, b), sub.goodput(cross, a, b))
        r['util'] = sub.util(main, a, b)
    elif kind in ('two', 'bg_two'):
        a, b = 20, d + 10
        second = sub.flows[1]
        r['shares'] = [sub.share(main, a, b), sub.share(second, a, b)]
        r['ratio'] = ratio(r['shares'][0], r['shares'][1])
        r['jain'] = jain([sub.goodput(main, a, b), sub.goodput(second, a, b)])
        r['util'] = sum(sub.goodput(f, a, b) or 0 for f in (main, second)) / (sub.rate * main['eff'])
    elif kind == 'bg_cubic':
        a, b = 5, d
        cross = sub.flow('x1')
        r['shares'] = [sub.share(main, a, b), sub.share(cross, a, b)]
        r['util'] = sub.util(main, d + 5, d + 15)
        r['recovery_s'] = next((t - d for t in frange(d, d + 14, BIN) if (sub.util(main, t, t + 1) or 0) >= 0.85), None)
    elif kind == 'switch':
        a, b = 5, d
        cross = sub.flow('x1')
        r['phases'] = []
        for lo, hi in ((5, d), (d + 5, 2 * d), (2 * d + 5, 3 * d)):
            r['phases'].append((sub.share(main, lo, hi), sub.share(cross, lo, hi)))
        # Seconds from each switch until a 1-s share is within 10% of the new phase's share.
        r['reach_s'] = []
        for k, at in enumerate((d, 2 * d)):
            target = r['phases'][k + 1][0]
            r['reach_s'].append(None if not target else next(
                (t - at for t in frange(at, at + 15, BIN) if (sub.share(main, t, t + 1) or 0) >= 0.9 * target), None))
        r['observed'] = [status_priority(os.path.join(sub.path, 'status-%s.json' % c)) for c in ('normal', '2')]
        r['switches'] = sub.meta.get('switch', [])
        r['switch_failed'] = sub.meta.get('switch_failed', [])
        r['util'] = None
    r['rtt_p50'], r['rtt_p95'] = sub.rtt_increase(a, b)
    r['window'] = (a, b)
    r.update(sub.counters())
    return r


def status_priority(path):
    """The priority `curvecp status --json` showed after a switch, or why there is none."""
    try:
        return json.load(open(path))['connections'][0]['priority']
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return 'no status'


def goodput_share(x, y):
    return x / (x + y) if x is not None and y is not None and x + y > 0 else None


def ratio(x, y):
    return x / y if x is not None and y else None


# ---------------------------------------------------------------- time series and plots

def write_csv(sub, path):
    end = sub.end + 2
    names = [f['name'] for f in sub.flows]
    with open(path, 'w') as out:
        out.write('t_s,' + ','.join(n + '_mbit' for n in names) + ',rtt_mean_ms,rtt_max_ms\n')
        for t in frange(BIN, end, BIN):
            row = ['%.2f' % t]
            for f in sub.flows:
                g = rate_mbit(f['samples'], t - BIN, t)
                row.append('%.3f' % g if g is not None else '')
            rtts = [r for s, r in sub.pings if t - BIN < s <= t]
            row.append('%.1f' % statistics.mean(rtts) if rtts else '')
            row.append('%.1f' % max(rtts) if rtts else '')
            out.write(','.join(row) + '\n')


def plot(sub, csv, png, title):
    n = len(sub.flows)
    ceiling = sub.rate * CURVECP_EFF
    lines = []
    for i, f in enumerate(sub.flows):
        label = '%s (%s %s)' % (f['name'], f['type'], f['class'])
        lines.append("'%s' using 1:%d with lines lw 1.5 title '%s'" % (csv, i + 2, label))
    lines.append('%g with lines dt 2 lc rgb "gray40" title "link %g Mbit/s"' % (sub.rate, sub.rate))
    lines.append('%g with lines dt 3 lc rgb "gray20" title "CurveCP ceiling"' % ceiling)
    script = '\n'.join([
        "set terminal pngcairo size 1000,700 noenhanced" if has_cairo() else "set terminal png size 1000,700 noenhanced",
        "set output '%s'" % png,
        "set datafile separator ','",
        "set key outside right top",
        "set lmargin 10",
        "set rmargin 30",
        "set multiplot layout 2,1 title '%s'" % title.replace("'", ''),
        "set ylabel 'Mbit/s (250 ms bins)'",
        "set yrange [0:%g]" % (sub.rate * 1.15),
        "set xrange [0:%g]" % (sub.end + 2),
        "set grid",
        "plot " + ', '.join(lines),
        "set ylabel 'RTT ms (ping, 20 ms)'",
        "set xlabel 's'",
        "set yrange [0:*]",
        "plot '%s' using 1:%d with lines lc rgb 'dark-red' title 'RTT mean per bin', "
        "'%s' using 1:%d with lines lc rgb 'orange' title 'RTT max per bin', "
        "%g with lines dt 2 lc rgb 'gray40' title 'base RTT'" % (csv, n + 2, csv, n + 3, sub.base),
        "unset multiplot",
    ])
    subprocess.run(['gnuplot'], input=script, text=True, check=False, stderr=subprocess.DEVNULL)


_CAIRO = None


def has_cairo():
    global _CAIRO
    if _CAIRO is None:
        probe = subprocess.run(['gnuplot', '-e', 'set terminal'], capture_output=True, text=True)
        _CAIRO = 'pngcairo' in probe.stdout + probe.stderr
    return _CAIRO


# ---------------------------------------------------------------- the report

def fmt(x, spec='%.3f'):
    return '–' if x is None else spec % x


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def med_worst(values, worst, spec='%.3f'):
    values = [v for v in values if v is not None]
    if not values:
        return '–'
    return '%s (%s)' % (spec % statistics.median(values), spec % worst(values))


def scenario_label(meta, kind):
    loss = float(meta['loss'])
    text = '%s Mbit/s, %s ms, %s ms buffer' % (meta['rate_mbit'], meta['rtt_ms'], meta['buffer_ms'])
    if loss > 0:
        text += ', %g%% loss' % (loss * 100)
    if meta.get('noisy') == '1':
        text += ', noisy host'
    return text


def main():
    report = sys.argv[1]
    env = read_meta(os.path.join(report, 'env.txt')) if os.path.exists(os.path.join(report, 'env.txt')) else {}
    duration = float(env.get('duration', 30))
    os.makedirs(os.path.join(report, 'csv'), exist_ok=True)
    os.makedirs(os.path.join(report, 'png'), exist_ok=True)
    rows, notes, details, sim_rows = [], [], [], []
    sim_report = os.environ.get('NETLAB_SIM_REPORT', '')
    for scen_dir in sorted(glob.glob(os.path.join(report, 'runs', '*'))):
        scen = os.path.basename(scen_dir)
        kind = open(os.path.join(scen_dir, 'kind')).read().strip()
        runs = sorted(glob.glob(os.path.join(scen_dir, 'run*')))
        subnames = []
        for run in runs:
            for s in sorted(os.listdir(run)):
                if os.path.isdir(os.path.join(run, s)) and s not in subnames:
                    subnames.append(s)
        subnames.sort(key=lambda s: (s != 'curvecp', s))
        if not subnames:
            notes.append('%s: no run produced results (see runs/%s/*/scenario.log)' % (scen, scen))
        for subname in subnames:
            results, subs, skipped = [], [], None
            for run in runs:
                path = os.path.join(run, subname)
                if not os.path.isdir(path):
                    continue
                try:
                    sub = SubRun(path)
                except (OSError, KeyError, ValueError) as e:
                    notes.append('%s/%s/%s: incomplete (%s)' % (scen, os.path.basename(run), subname, e))
                    continue
                if sub.skipped:
                    skipped = sub.skipped
                    continue
                res = judge(sub, kind, duration)
                results.append(res)
                subs.append((os.path.basename(run), sub, res))
                write_csv(sub, os.path.join(report, 'csv', '%s.%s.%s.csv' % (scen, os.path.basename(run), subname)))
            if skipped and not results:
                rows.append('| %s | %s | NOT RUN: %s |' % (scen, subname, skipped) + ' |' * 10)
                notes.append('%s / %s could not run: %s' % (scen, subname, skipped))
                continue
            if not results:
                continue
            label = scenario_label(subs[0][1].meta, kind)
            # The plot shows the median run by the scenario's main figure.
            key = lambda item: (item[2].get('util') or item[2].get('jain') or 0)
            ordered = sorted(subs, key=key)
            mid = ordered[len(ordered) // 2]
            png = '%s.%s.png' % (scen, subname)
            csv = os.path.join(report, 'csv', '%s.%s.%s.csv' % (scen, mid[0], subname))
            plot(mid[1], csv, os.path.join(report, 'png', png), '%s: %s, %s (%s)' % (scen, subname, label, mid[0]))
            shares = [r.get('shares') for r in results if r.get('shares')]
            share_text = '–'
            if shares:
                share_text = ' / '.join(fmt(median([s[i] for s in shares]), '%.2f') for i in range(len(shares[0])))
            if kind == 'switch':
                share_text = ' → '.join('%s %s' % (c, fmt(median([r['phases'][i][0] for r in results]), '%.2f'))
                                        for i, c in enumerate(('bg', 'normal', '2'))) + ' (vs cubic)'
            if kind == 'bg_cubic':
                share_text += '; to 0.85 after cubic: %s s' % fmt(median([r['recovery_s'] for r in results]), '%.2f')
            loss_text = 'tbf drop %.2f%%, random %d' % (100 * median([r['drop_rate'] for r in results]),
                                                         median([r['random_lost'] for r in results]))
            exact = [r['exact'] for r in results if r['exact'] is not None]
            exact_text = '–' if not exact else ('yes' if all(exact) else '%d of %d' % (sum(exact), len(exact)))
            flows = ' + '.join('%s %s' % (f['type'] if f['type'] == 'curvecp' else 'tcp', f['class'])
                               for f in mid[1].flows)
            rows.append('| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | [png](png/%s) |' % (
                scen, flows, label,
                med_worst([r.get('util') for r in results], min),
                med_worst([r.get('min1s') for r in results], min),
                med_worst([r['rtt_p50'] for r in results], max, '%+.1f'),
                med_worst([r['rtt_p95'] for r in results], max, '%+.1f'),
                share_text,
                med_worst([r.get('jain') for r in results], min),
                loss_text, exact_text, len(results), png))
            if sim_report and subname == 'curvecp' and kind in SIM_KINDS:
                stalls = [s.stalls for _, s, _ in subs if s.stalls]
                host = {k: median([x[k] for x in stalls]) for k in STALL_KEYS} if stalls else None
                sim_rows.append(sim_row(scen, kind, results, host, simulate(sim_report, mid[1].meta, kind, duration, host)))
            for run, sub, r in subs:
                extra = []
                if sub.stalls:
                    extra.append('host stalls %.1f/s p50 %.1f p99 %.1f ms' % (
                        sub.stalls['stalls_per_s'], sub.stalls['stall_p50_ms'], sub.stalls['stall_p99_ms']))
                if r.get('ratio') is not None:
                    extra.append('ratio %.2f' % r['ratio'])
                if r.get('goodput_share') is not None:
                    extra.append('goodput share %.2f' % r['goodput_share'])
                if 'recovery_s' in r:
                    extra.append('to 0.85 after cubic stops: %s s' % fmt(r['recovery_s'], '%.2f'))
                if 'phases' in r:
                    extra.append('shares bg/normal/2 vs cubic: ' + ', '.join(
                        '%s/%s' % (fmt(p[0], '%.2f'), fmt(p[1], '%.2f')) for p in r['phases']))
                    extra.append('new share reached %s s after the switches' % ' / '.join(fmt(x, '%.2f') for x in r['reach_s']))
                    extra.append('status --json priority after the switches: %s' % ' / '.join(str(x) for x in r['observed']))
                    extra.append('switches %s%s' % (r['switches'], ' FAILED %s' % r['switch_failed'] if r['switch_failed'] else ''))
                for f in sub.flows:
                    if f['info'].get('retransmits') is not None:
                        extra.append('%s retransmits %d' % (f['name'], f['info']['retransmits']))
                    if f['type'] == 'curvecp':
                        extra.append('%s sent %s received %s rc %s' % (f['name'], f['info']['sent'], f['info']['received'], f['info']['rc']))
                details.append('| %s | %s | %s | %s | %s | %s/%s | %s | %s | %s | %s |' % (
                    scen, run, subname, fmt(r.get('util')), fmt(r.get('min1s')), fmt(r['rtt_p50'], '%+.1f'),
                    fmt(r['rtt_p95'], '%+.1f'), fmt(r.get('jain')), r['tbf_dropped'], sub.meta.get('loadavg_before', '?'),
                    '; '.join(extra)))
    write_report(report, env, rows, details, notes, sim_rows)


def load_summary(report):
    values = []
    path = os.path.join(report, 'loadavg.log')
    if os.path.exists(path):
        for line in open(path):
            parts = line.split()
            if len(parts) >= 2:
                try:
                    values.append(float(parts[1]))
                except ValueError:
                    pass
    if not values:
        return 'not sampled'
    return '1-min load average min %.2f, median %.2f, max %.2f over %d samples (2 cores)' % (
        min(values), statistics.median(values), max(values), len(values))


def write_report(report, env, rows, details, notes, sim_rows=()):
    with open(os.path.join(report, 'report.md'), 'w') as out:
        out.write('# netlab report (%s)\n\n' % env.get('label', 'busy host'))
        out.write('- started %s, finished %s; curvecp %s (commit %s)\n' % (
            env.get('started', '?'), env.get('finished', '?'), env.get('curvecp', '?'), env.get('commit', '?')))
        out.write('- host: %s; %s\n' % (env.get('label', '?'), load_summary(report)))
        out.write('- command: `%s`\n' % env.get('command', '?'))
        out.write('- runs per scenario: %s, flow duration %s s; windows, columns and ceilings: docs/NETLAB.md\n\n' % (
            env.get('runs', '?'), env.get('duration', '?')))
        out.write('Median (worst) over the runs. util: goodput / own goodput ceiling (CurveCP: link x 1024/1212; '
                  'TCP: link x 1448/1500). min 1 s: the worst 1-s utilisation in the window. RTT: ping increase '
                  'over the idle minimum. shares: wire rate / link, per flow in order. Jain: over the flows\' goodput.\n\n')
        out.write('| scenario | flows | path | util | min 1 s | RTT +p50 ms | RTT +p95 ms | shares | Jain | loss | byte-exact | runs | plot |\n')
        out.write('|---|---|---|---|---|---|---|---|---|---|---|---|---|\n')
        out.write('\n'.join(rows) + '\n\n')
        if notes:
            out.write('## Notes\n\n' + '\n'.join('- ' + n for n in notes) + '\n\n')
        out.write('## Every run\n\n| scenario | run | sub-run | util | min 1 s | RTT +p50/+p95 | Jain | tbf drops | load before | details |\n')
        out.write('|---|---|---|---|---|---|---|---|---|---|\n')
        out.write('\n'.join(details) + '\n')
        if sim_rows:
            out.write('\n## The simulator beside the testbed\n\n'
                      'tests/bench/sim_report --netlab on each scenario, 3 seeds, with the host stalls '
                      'curvecp_host_stalls measured during the runs (medians; tests/sim/sim_host.h). '
                      'Agree: util within %.2f, first share within %.2f, Jain (two flows) within %.2f '
                      '(docs/SIMULATOR.md).\n\n' % (SIM_TOLERANCE['util'], SIM_TOLERANCE['share'], SIM_TOLERANCE['jain']))
            out.write('| scenario | host stalls | util testbed | util sim | share testbed | share sim | '
                      'Jain testbed | Jain sim | agree |\n|---|---|---|---|---|---|---|---|---|\n')
            out.write('\n'.join(sim_rows) + '\n')


if __name__ == '__main__':
    main()
