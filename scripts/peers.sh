#!/usr/bin/env bash
# Scores aubio's tempo (Debian aubio-tools) and songflow's calibrate results
# side by side on a corpus folder with a truth.csv (file,bpm,... columns),
# e.g. the development corpus rendered by ../shared/corpus/build.sh.
#
#   scripts/peers.sh CORPUS_DIR SONGFLOW_REPORT_DIR
#
# aubio's estimates are kept in SONGFLOW_REPORT_DIR/aubio_tempo.csv.
# Needs aubio (apt-get install aubio-tools) and python3. Not used by CI.
set -euo pipefail
corpus=$1 report=$2
aubio_csv=$report/aubio_tempo.csv
[ -s "$aubio_csv" ] || { echo "file,bpm" > "$aubio_csv"
while IFS=, read -r file _; do
  [ "$file" = file ] && continue
  bpm=$(aubio tempo -i "$corpus/audio/$file" 2>/dev/null | awk '/bpm/{print $1}' | tail -1)
  [ -z "$bpm" ] && [ -f "$corpus/$file" ] && bpm=$(aubio tempo -i "$corpus/$file" 2>/dev/null | awk '/bpm/{print $1}' | tail -1)
  echo "$file,${bpm:-0}" >> "$aubio_csv"
done < <(python3 -c 'import csv,sys; [print(r["file"]+",") for r in csv.DictReader(open(sys.argv[1]))]' "$corpus/truth.csv"); }
python3 - "$corpus/truth.csv" "$aubio_csv" "$report/results.json" <<'PY'
import csv, json, os, sys
truth = {r["file"]: float(r["bpm"]) for r in csv.DictReader(open(sys.argv[1])) if r["bpm"]}
aubio = {r["file"]: float(r["bpm"]) for r in csv.DictReader(open(sys.argv[2]))}
sf = {}
for r in json.load(open(sys.argv[3]))["songs"]:
    sf[os.path.basename(r["file"])] = float(r.get("bpm") or 0)
def acc(est, t, tol=0.04):
    # The slack keeps an estimate exactly 4 % off inside, as calibrate does.
    a1 = abs(est - t) <= tol * t * (1 + 1e-9)
    a2 = any(abs(est - t * m) <= tol * t * m * (1 + 1e-9) for m in (1/3, 1/2, 1, 2, 3))
    return a1, a2
def cls(t):
    return "slow <80" if t < 80 else ("fast >140" if t > 140 else "mid 80-140")
for name, est in (("aubio tempo", aubio), ("songflow", sf)):
    rows = [(acc(est.get(f, 0), t), cls(t)) for f, t in truth.items()]
    n = len(rows)
    a1 = sum(r[0][0] for r in rows); a2 = sum(r[0][1] for r in rows)
    line = f"| {name} | {100*a1/n:.1f}% ({a1}/{n}) | {100*a2/n:.1f}% ({a2}/{n}) |"
    for c in ("slow <80", "mid 80-140", "fast >140"):
        sub = [r for r in rows if r[1] == c]
        if sub:
            line += f" {100*sum(r[0][0] for r in sub)/len(sub):.0f}% / {100*sum(r[0][1] for r in sub)/len(sub):.0f}% (n={len(sub)}) |"
    print(line)
PY
