#!/usr/bin/env bash
# `--shard i/N` on a real scheduler (issue 24): starts a single-node Slurm cluster (munged, slurmctld,
# slurmd from Debian's slurm-wlm and munge, everything configured in a temporary folder), submits
#
#   gradcam audit demo/testset/annotations.json --shard $SLURM_ARRAY_TASK_ID/4
#
# as a 4-task array job (sbatch --array=0-3), cancels one task mid-run (scancel), resubmits it (the
# audit resumes: finished images are skipped), merges the four shard folders with `gradcam merge`, and
# checks that the merged results.jsonl and summary.json equal those of one unsharded run on this machine.
# The cluster is shut down and the folder removed on every exit, failures included.
#
# Needs root (slurmd runs jobs as root here) and the Debian packages slurm-wlm and munge; `.ci/run`
# installs them and runs this script after `npm test`. Not part of `npm test`, which runs without root.
#
#   sudo scripts/slurm-check.sh          # exit 0: merged = one run; non-zero with the reason on stderr
#   KEEP=1 scripts/slurm-check.sh        # keep the temporary folder (logs, outputs) for inspection
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
GRADCAM=(node "$ROOT/bin/gradcam.js")
MODEL="$ROOT/demo/models/where.onnx"
DATA="$ROOT/demo/testset/annotations.json"
SHARDS=4
VICTIM=1           # the array task that is cancelled mid-run and resubmitted
# Score-CAM, one image per model run, one thread: slow enough (about 0.2 s an image) that a task is
# still running when its first rows are on disk, so the cancel lands mid-run.
AUDIT_ARGS=(--model "$MODEL" --method scorecam --batch-size 1 --threads 1 --quiet)

say() { echo "slurm-check: $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "run as root (slurmd runs the jobs as root in this single-node cluster)"
for cmd in munged slurmctld slurmd sbatch squeue scancel scontrol sinfo; do
  command -v "$cmd" >/dev/null || fail "$cmd not found: apt-get install -y slurm-wlm munge"
done

T="$(mktemp -d /tmp/gradcam-slurm.XXXXXX)"
chmod 700 "$T"
MUNGED_PID=""
cleanup() {
  local rc=$?
  set +e
  if [ -f "$T/slurm.conf" ]; then
    export SLURM_CONF="$T/slurm.conf"
    scancel --quiet --user=root 2>/dev/null
    scontrol shutdown >/dev/null 2>&1
  fi
  # wait for the daemons to exit (scontrol shutdown stops slurmctld and slurmd), then stop whatever is left
  for f in slurmctld.pid slurmd.pid; do
    [ -f "$T/$f" ] || continue
    pid="$(cat "$T/$f" 2>/dev/null)"
    [ -n "$pid" ] || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { kill "$pid"; sleep 0.5; kill -9 "$pid" 2>/dev/null; }
  done
  if [ -n "$MUNGED_PID" ]; then
    kill "$MUNGED_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$MUNGED_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  if [ "$rc" -ne 0 ]; then
    for log in slurmctld.log slurmd.log munged.log; do
      [ -f "$T/$log" ] && { say "--- last lines of $log"; tail -n 15 "$T/$log" >&2; }
    done
    for out in "$T"/job-*.out; do [ -f "$out" ] && { say "--- $out"; tail -n 15 "$out" >&2; }; done
  fi
  if [ -n "${KEEP:-}" ]; then say "kept $T"; else rm -rf "$T"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

# --- munge: its own key, socket, pid, seed and log in $T
dd if=/dev/urandom of="$T/munge.key" bs=1024 count=1 status=none
chmod 400 "$T/munge.key"
munged --key-file="$T/munge.key" --socket="$T/munge.sock" --pid-file="$T/munged.pid" \
  --seed-file="$T/munged.seed" --log-file="$T/munged.log" --force
for _ in $(seq 50); do [ -S "$T/munge.sock" ] && [ -s "$T/munged.pid" ] && break; sleep 0.1; done
MUNGED_PID="$(cat "$T/munged.pid")"
munge --socket="$T/munge.sock" -n | unmunge --socket="$T/munge.sock" >/dev/null || fail "munge does not round-trip"

# --- slurm: controller and node on this host, state, spool, logs and pids in $T
HOST="$(hostname -s)"
CPUS="$(nproc)"
mkdir -p "$T/state" "$T/spool"
cat >"$T/slurm.conf" <<EOF
ClusterName=gradcam-check
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$T/munge.sock
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
PlugStackConfig=$T/plugstack.conf
MinJobAge=600
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS State=UNKNOWN
PartitionName=check Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
: >"$T/plugstack.conf"
export SLURM_CONF="$T/slurm.conf"
slurmctld -i -c
slurmd
for _ in $(seq 100); do
  state="$(sinfo -h -n "$HOST" -o %T 2>/dev/null || true)"
  [ "$state" = idle ] && break
  sleep 0.2
done
[ "$state" = idle ] || fail "the node did not become idle (state: '${state:-none}')"
say "cluster up: $HOST, $CPUS CPUs ($SLURM_CONF)"

# --- the one-machine reference
OUT="$T/out"
mkdir -p "$OUT"
"${GRADCAM[@]}" audit "$DATA" "${AUDIT_ARGS[@]}" --out "$OUT/one" || fail "the one-machine audit exited $?"
N="$(wc -l <"$OUT/one/results.jsonl")"
say "one-machine run: $N images"

# --- the array job
cat >"$T/audit.sbatch" <<EOF
#!/usr/bin/env bash
#SBATCH --job-name=gradcam-audit
#SBATCH --cpus-per-task=1
#SBATCH --output=$T/job-%A_%a.out
set -u
cd "$ROOT"
exec ${GRADCAM[*]} audit "$DATA" ${AUDIT_ARGS[*]} --no-report \\
  --shard "\${SLURM_ARRAY_TASK_ID}/$SHARDS" --out "$OUT/shard-\${SLURM_ARRAY_TASK_ID}"
EOF
JOB="$(sbatch --parsable --array=0-$((SHARDS - 1)) "$T/audit.sbatch")"
say "submitted array job $JOB"

rows() { [ -f "$1/results.jsonl" ] && wc -l <"$1/results.jsonl" || echo 0; }
# job state of one array task ('' once slurmctld forgot it)
task_state() { squeue -h -j "${JOB}_$1" -o %T 2>/dev/null | head -n 1; }

# cancel the victim once its first rows are written
VDIR="$OUT/shard-$VICTIM"
for _ in $(seq 1200); do
  [ "$(rows "$VDIR")" -ge 3 ] && break
  sleep 0.1
done
[ "$(rows "$VDIR")" -ge 3 ] || fail "task $VICTIM wrote no rows in 120 s"
scancel "${JOB}_$VICTIM"
for _ in $(seq 300); do [ -z "$(task_state $VICTIM)" ] && break; sleep 0.1; done
[ -z "$(task_state $VICTIM)" ] || fail "task $VICTIM still $(task_state $VICTIM) 30 s after scancel"
CUT="$(rows "$VDIR")"
head -n "$CUT" "$VDIR/results.jsonl" >"$T/victim-before.jsonl"
say "cancelled task $VICTIM with $CUT rows written"

# wait for the other tasks
for _ in $(seq 3000); do [ -z "$(squeue -h -j "$JOB" -o %i 2>/dev/null)" ] && break; sleep 0.2; done
[ -z "$(squeue -h -j "$JOB" -o %i)" ] || fail "array job $JOB did not finish in 10 minutes"
TOTAL=0
for i in $(seq 0 $((SHARDS - 1))); do TOTAL=$((TOTAL + $(rows "$OUT/shard-$i"))); done
grep -q "SIGTERM: stopping after the current batch" "$T/job-${JOB}_$VICTIM.out" || fail "task $VICTIM's output does not show the audit stopping on SIGTERM"
[ "$TOTAL" -lt "$N" ] || fail "task $VICTIM finished before the cancel took effect ($TOTAL of $N rows): nothing was resumed"

# a merge now reports the unfinished shard (exit 3) ...
set +e
"${GRADCAM[@]}" merge "$OUT"/shard-* --out "$OUT/merged-early" 2>"$T/merge-early.err"
rc=$?
set -e
[ "$rc" -eq 3 ] || fail "merge with shard $VICTIM unfinished exited $rc, not 3"
grep -q "items finished (rerun that shard" "$T/merge-early.err" || fail "merge with an unfinished shard did not say so: $(cat "$T/merge-early.err")"

# ... resubmit the cancelled task: it resumes from its rows
JOB2="$(sbatch --parsable --array="$VICTIM" "$T/audit.sbatch")"
say "resubmitted task $VICTIM as job $JOB2"
for _ in $(seq 3000); do [ -z "$(squeue -h -j "$JOB2" -o %i 2>/dev/null)" ] && break; sleep 0.2; done
[ -z "$(squeue -h -j "$JOB2" -o %i)" ] || fail "job $JOB2 did not finish in 10 minutes"
# resumed, not restarted: the rows written before the cancel are still the first rows, once each
head -n "$CUT" "$VDIR/results.jsonl" | cmp -s - "$T/victim-before.jsonl" || fail "task $VICTIM's rows before the cancel were rewritten"
[ "$(cut -d, -f1 "$VDIR/results.jsonl" | sort | uniq -d | wc -l)" -eq 0 ] || fail "task $VICTIM has an item twice"

# exit 0: every shard complete, no image failed
"${GRADCAM[@]}" merge "$OUT"/shard-* --out "$OUT/merged" || fail "merge of the four shards exited $? (unfinished shard or failed images)"

# merged = one run: every row (parsed) and the summary
node --input-type=module - "$OUT/one" "$OUT/merged" "$N" <<'EOF'
import fs from 'node:fs';
import assert from 'node:assert/strict';
const [one, merged, n] = process.argv.slice(2);
const rows = (d) => fs.readFileSync(`${d}/results.jsonl`, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const a = rows(one);
const b = rows(merged);
assert.equal(a.length, Number(n));
assert.equal(b.length, a.length, `merged has ${b.length} rows, the one-machine run ${a.length}`);
assert.deepEqual(b, a, 'merged results.jsonl differs from the one-machine run');
const summary = (d) => JSON.parse(fs.readFileSync(`${d}/summary.json`, 'utf8'));
assert.deepEqual(summary(merged), summary(one), 'merged summary.json differs from the one-machine run');
for (const r of b) if (r.files?.thumb) assert.ok(fs.existsSync(`${merged}/${r.files.thumb}`), `thumbnail of ${r.key}`);
EOF
say "OK: 4-task array job, task $VICTIM cancelled at $CUT rows and resubmitted; merged = one-machine run ($N images)"
