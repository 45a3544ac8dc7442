#!/usr/bin/env bash
# Applies h2ring's kernel tuning on this machine:
#
#   1. makes sure the tcp_bbr and sch_fq modules are available (modprobe,
#      unless already loaded or built in);
#   2. installs 99-h2ring.conf (beside this script) as
#      /etc/sysctl.d/99-h2ring.conf and applies exactly that file with
#      `sysctl -p FILE` (never `sysctl --system`, which would re-apply every
#      other drop-in too);
#   3. puts fq on the one interface given (see apply_qdisc for single- and
#      multi-queue NICs);
#
# and prints every knob and the qdisc before and after. Nothing else is
# touched: no other interface, no other sysctl file. The qdisc step is
# planned before anything changes, and a root qdisc someone configured on
# purpose (htb, tbf, cake, mqprio, ...) makes the script stop untouched.
#
# Usage: apply.sh [--dry-run] IFACE        (see --help)
# Exit status: 0 done, 1 refused or failed, 2 bad usage.
set -euo pipefail
export LC_ALL=C

prog=${0##*/}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly prog here
readonly src_conf="$here/99-h2ring.conf"
readonly dst_conf=/etc/sysctl.d/99-h2ring.conf

# Root qdiscs (and mq children) this script may replace: the kernel's own
# defaults and plain, parameter-free queues. Anything else with a handle
# someone gave it is treated as deliberate configuration.
readonly plain_qdiscs=' fq fq_codel pfifo_fast pfifo bfifo sfq codel noqueue mq '

usage() {
  cat <<EOF
Usage: $prog [--dry-run] IFACE

Applies h2ring's kernel tuning: loads tcp_bbr and sch_fq; installs the
drop-in 99-h2ring.conf kept beside this script as $dst_conf
and applies that file alone with \`sysctl -p\`; puts fq on IFACE (mq with
fq children on a multi-queue NIC). Prints each knob and the qdisc before
and after. Nothing else is changed.

  IFACE       the interface h2ring serves on (ip -br link lists them)
  --dry-run   show the current values and what would change; change nothing
              (works without root)
  -h, --help  this text

Needs root. Exit status: 0 done, 1 refused or failed, 2 bad usage.
EOF
}

say() { printf '%s\n' "$*"; }
warn() { printf '%s: warning: %s\n' "$prog" "$*" >&2; }
die() {
  printf '%s: %s\n' "$prog" "$*" >&2
  exit 1
}
usage_error() {
  printf '%s: %s (see --help)\n' "$prog" "$*" >&2
  exit 2
}

# Runs a command that changes the system, or only shows it with --dry-run.
run() {
  if ((dry_run)); then
    say "  would run: $*"
  else
    say "  running: $*"
    "$@"
  fi
}

# Collapses runs of blanks and tabs to one space (sysctl prints the
# tcp_rmem triple with tabs, the drop-in with spaces).
normalize() {
  local -a words
  read -ra words <<<"$1" || true
  printf '%s' "${words[*]}"
}

# The live value of a knob, or "(absent)" when this kernel has no such key
# or it cannot be read.
knob() {
  local v
  if v=$(sysctl -n "$1" 2>/dev/null); then
    normalize "$v"
  else
    printf '(absent)'
  fi
}

# ---- arguments ---------------------------------------------------------------

dry_run=0
iface=
while (($#)); do
  case $1 in
    -n | --dry-run) dry_run=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    --)
      shift
      break
      ;;
    -*) usage_error "unknown option: $1" ;;
    *)
      [[ -z $iface ]] || usage_error "one interface only (got $iface and $1)"
      iface=$1
      ;;
  esac
  shift
done
if (($#)); then
  [[ -z $iface && $# -eq 1 ]] || usage_error "one interface only"
  iface=$1
fi
[[ -n $iface ]] || usage_error "which interface? give the one h2ring serves on, e.g. $prog eth0"
readonly dry_run iface

if ((!dry_run && EUID != 0)); then
  die "must be run as root (it writes $dst_conf, sysctls and qdiscs); use sudo, or --dry-run to only see the plan"
fi

for tool in sysctl tc ip; do
  command -v "$tool" >/dev/null || die "$tool not found (Debian: apt-get install procps iproute2)"
done
[[ -r $src_conf ]] || die "cannot read $src_conf (keep apply.sh beside it)"
ip link show dev "$iface" >/dev/null 2>&1 || die "no such interface: $iface (ip -br link lists them)"

# ---- the drop-in's keys and values ---------------------------------------------

keys=()      # sysctl keys, in file order
wanted=()    # their values, normalized
optional=()  # "-" when the line starts with "-" (skipped if the key is absent)
while IFS= read -r line || [[ -n $line ]]; do
  [[ $line =~ ^[[:space:]]*([#\;].*)?$ ]] && continue
  if [[ ! $line =~ ^[[:space:]]*(-?)([A-Za-z0-9_./-]+)[[:space:]]*=[[:space:]]*(.*[^[:space:]])[[:space:]]*$ ]]; then
    die "cannot parse this line of $src_conf: $line"
  fi
  optional+=("${BASH_REMATCH[1]}")
  keys+=("${BASH_REMATCH[2]}")
  wanted+=("$(normalize "${BASH_REMATCH[3]}")")
done <"$src_conf"
((${#keys[@]})) || die "$src_conf sets nothing"

# ---- the interface's qdiscs --------------------------------------------------------

# Fills root_kind, root_handle (e.g. "0:" for the kernel's default, which
# has no handle, or "8001:") and children (the kinds of the qdiscs directly
# under the root, one per transmit queue under mq).
read_qdiscs() {
  local out prefix kind handle where parent _rest
  out=$(tc qdisc show dev "$iface") || die "tc qdisc show dev $iface failed"
  root_kind='' root_handle='' children=()
  while read -r _ kind handle where _rest; do
    if [[ $where == root ]]; then
      root_kind=$kind root_handle=$handle
    fi
  done <<<"$out"
  # Under the default root (handle 0:) tc shows its classes as ":1", ":2".
  prefix=$root_handle
  [[ $prefix == 0: ]] && prefix=:
  while read -r _ kind handle where parent _rest; do
    if [[ $where == parent && -n $root_handle && $parent == "$prefix"* ]]; then
      children+=("$kind")
    fi
  done <<<"$out"
}

# "mq 0: root, 8 tx queues: fq x8" or "fq 8001: root".
describe_qdiscs() {
  local line=${root_kind:-none} counts
  [[ -z $root_handle ]] || line+=" $root_handle root"
  if ((${#children[@]})); then
    counts=$(printf '%s\n' "${children[@]}" | sort | uniq -c | awk '{printf "%s%s x%s", sep, $2, $1; sep=", "}')
    line+=", ${#children[@]} children: $counts"
  fi
  printf '%s' "$line"
}

# Deliberate configuration: a qdisc with a handle someone gave it (the
# kernel's own have handle 0:) that is not one of plain_qdiscs.
check_not_configured() {
  local k
  if [[ $root_handle != 0: && $plain_qdiscs != *" $root_kind "* ]]; then
    die "$iface has root qdisc '$root_kind $root_handle', configured on purpose (shaping, classes or offload); not replacing it. To put fq there anyway: tc qdisc del dev $iface root, then run $prog again"
  fi
  if [[ $root_kind == mq ]]; then
    for k in "${children[@]}"; do
      [[ $plain_qdiscs == *" $k "* ]] || die "$iface has mq with a '$k' child, configured on purpose; not replacing it. To put fq there anyway: tc qdisc del dev $iface root, then run $prog again"
    done
  fi
}

all_children_fq() {
  local k
  ((${#children[@]} >= ntx)) || return 1
  for k in "${children[@]}"; do
    [[ $k == fq ]] || return 1
  done
}

txq=(/sys/class/net/"$iface"/queues/tx-*)
ntx=1
if [[ -e ${txq[0]} ]]; then
  ntx=${#txq[@]}
fi
readonly ntx

read_qdiscs
check_not_configured
qdisc_before=$(describe_qdiscs)
root_kind_before=$root_kind

# ---- 1. modules ---------------------------------------------------------------------

bbr_available() {
  grep -qw bbr /proc/sys/net/ipv4/tcp_available_congestion_control 2>/dev/null
}
# sch_fq has no proc listing: a loaded module shows in /sys/module, a
# built-in one in modules.builtin or, failing that (no /lib/modules), by
# one of its functions among the names in /proc/kallsyms.
fq_available() {
  [[ -d /sys/module/sch_fq ]] ||
    grep -qs '/sch_fq\.ko' "/lib/modules/$(uname -r)/modules.builtin" ||
    grep -qsw fq_enqueue /proc/kallsyms
}

ensure_module() {
  local module=$1 available=$2
  if "$available"; then
    say "  $module: available (loaded or built in)"
    return
  fi
  if ((dry_run)); then
    say "  would run: modprobe $module"
    command -v modprobe >/dev/null || warn "modprobe is missing (Debian: apt-get install kmod): a real run would stop here"
    return
  fi
  command -v modprobe >/dev/null || die "$module is neither loaded nor built in, and modprobe is missing (Debian: apt-get install kmod)"
  run modprobe "$module" || die "modprobe $module failed: this kernel lacks $module (CONFIG_${3})"
  "$available" || die "$module loaded but not usable"
}

say "== modules"
ensure_module tcp_bbr bbr_available TCP_CONG_BBR
ensure_module sch_fq fq_available NET_SCH_FQ

# ---- 2. sysctls ----------------------------------------------------------------------

before=()
for key in "${keys[@]}"; do
  before+=("$(knob "$key")")
done

say "== sysctl: $dst_conf"
if [[ -f $dst_conf ]] && cmp -s "$src_conf" "$dst_conf"; then
  say "  $dst_conf is already this version"
elif ((dry_run)); then
  if [[ -f $dst_conf ]]; then
    say "  would replace $dst_conf, which differs:"
    diff -u "$dst_conf" "$src_conf" | sed 's/^/    /' || true
  else
    say "  would install $src_conf as $dst_conf"
  fi
else
  run install -D -m 0644 "$src_conf" "$dst_conf"
fi

sysctl_errors=
if ((dry_run)); then
  say "  would run: sysctl -p $dst_conf"
else
  say "  running: sysctl -p $dst_conf"
  # sysctl -p goes on past a key it cannot set and fails at the end; its
  # messages name the key. The table below shows the outcome of each.
  sysctl_errors=$(sysctl -p "$dst_conf" 2>&1 >/dev/null) || sysctl_errors=${sysctl_errors:-"sysctl -p $dst_conf failed"}
fi

failed=0
if ((dry_run)); then
  printf '  %-36s %-26s %s\n' knob current "wanted (from the drop-in)"
else
  printf '  %-36s %-26s %-26s %s\n' knob before after ""
fi
for i in "${!keys[@]}"; do
  key=${keys[$i]} want=${wanted[$i]} was=${before[$i]}
  if ((dry_run)); then
    if [[ $was == "$want" ]]; then
      note="(already)"
    elif [[ $was == "(absent)" && -n ${optional[$i]} ]]; then
      note="(not on this kernel; skipped)"
    else
      note="<- would change"
    fi
    printf '  %-36s %-26s %s %s\n' "$key" "$was" "$want" "$note"
    continue
  fi
  now=$(knob "$key")
  if [[ $now == "$want" ]]; then
    note=$([[ $was == "$want" ]] && echo "unchanged" || echo "changed")
  elif [[ $now == "(absent)" && -n ${optional[$i]} ]]; then
    note="not on this kernel; skipped"
  else
    note="NOT APPLIED (wanted $want)"
    failed=1
  fi
  printf '  %-36s %-26s %-26s %s\n' "$key" "$was" "$now" "$note"
done
if ((failed)); then
  [[ -z $sysctl_errors ]] || printf '%s\n' "$sysctl_errors" | sed 's/^/  /' >&2
  die "some sysctls were not applied (above); not touching the qdisc of $iface"
fi

# ---- 3. qdisc --------------------------------------------------------------------------

# Single transmit queue: fq becomes the root qdisc.
#
# Several transmit queues (most 10 Gbit/s NICs have one per CPU): the root
# must stay `mq`, which has one child qdisc per hardware queue, so each CPU
# transmits through its own queue and lock. `tc qdisc replace dev IFACE root
# fq` here would funnel every CPU through a single fq and its one lock. So
# the root is reset instead and the kernel rebuilds it: a new mq creates
# each child from net.core.default_qdisc, which step 2 has just set to fq.
# That is also exactly what the kernel builds at boot from the drop-in.
#
# The reset depends on who made the root. The kernel's own root has handle
# 0: and cannot be deleted ("Cannot delete qdisc with handle of zero"), so
# it is replaced by a new mq. A root someone added (handle 8001: and so on,
# e.g. a single fq from an earlier `replace root fq`) is deleted, and the
# kernel attaches its default again: mq with fq children. Either way every
# queued packet is dropped once, and TCP retransmits them.
#
# default_qdisc applies only when a qdisc is created, so interfaces other
# than IFACE keep theirs until they are reset or the machine reboots.
apply_qdisc() {
  local i
  say "== qdisc: $iface ($ntx transmit queue$( ((ntx == 1)) || echo s))"
  say "  before: $qdisc_before"
  if ((ntx == 1)); then
    if [[ $root_kind == fq ]]; then
      say "  fq is already the root qdisc"
      return
    fi
    run tc qdisc replace dev "$iface" root fq
  else
    if [[ $root_kind == mq ]] && all_children_fq; then
      say "  already mq with fq on every transmit queue"
      return
    fi
    if ((dry_run)); then
      if [[ $root_handle == 0: ]]; then
        run tc qdisc replace dev "$iface" root mq
      else
        run tc qdisc del dev "$iface" root
      fi
      say "  (the kernel then creates one fq per transmit queue, from net.core.default_qdisc = fq)"
      return
    fi
    if [[ -n $root_handle && $root_handle != 0: ]]; then
      run tc qdisc del dev "$iface" root
      read_qdiscs
    fi
    # The kernel's default may be noqueue rather than mq (virtual devices).
    if [[ $root_kind != mq ]] || ! all_children_fq; then
      run tc qdisc replace dev "$iface" root mq
      read_qdiscs
    fi
    # Only if default_qdisc did not give fq (set back meanwhile, or
    # not applied): put fq on each queue by hand. Children are addressed
    # by the root's handle, which the replace above gave it.
    if ! all_children_fq; then
      warn "mq children are not fq (is net.core.default_qdisc = fq?); putting fq on each transmit queue"
      for ((i = 1; i <= ntx; i++)); do
        run tc qdisc replace dev "$iface" parent "${root_handle}$(printf '%x' "$i")" fq
      done
      read_qdiscs
    fi
  fi
  ((dry_run)) && return
  read_qdiscs
  say "  after:  $(describe_qdiscs)"
  if ((ntx == 1)); then
    [[ $root_kind == fq ]] || die "$iface: root qdisc is $root_kind, not fq"
  else
    if [[ $root_kind != mq ]] || ! all_children_fq; then
      die "$iface: expected mq with fq on every transmit queue, got $(describe_qdiscs)"
    fi
  fi
}
apply_qdisc
if [[ $root_kind_before == noqueue ]]; then
  warn "$iface had no queue of its own (noqueue: a virtual device such as a VLAN, bond or veth); packets also queue on the device below it, which should get fq as well"
fi

# ---- boot-time overrides ---------------------------------------------------------------

# systemd-sysctl reads the *.conf of these directories sorted by file name
# (the same name in an earlier directory hides later ones), and the last
# assignment wins; procps `sysctl --system` reads /etc/sysctl.conf last.
# Warn about every other file that sets one of our keys after us.
check_overrides() {
  local f base key pattern real
  local -A seen=() # Debian's /etc/sysctl.d/99-sysctl.conf links to /etc/sysctl.conf
  for f in /etc/sysctl.d/*.conf /run/sysctl.d/*.conf /usr/local/lib/sysctl.d/*.conf \
    /usr/lib/sysctl.d/*.conf /lib/sysctl.d/*.conf /etc/sysctl.conf; do
    [[ -f $f ]] || continue
    real=$(readlink -f "$f")
    [[ -z ${seen[$real]:-} ]] || continue
    seen[$real]=1
    base=${f##*/}
    [[ $base == "${dst_conf##*/}" ]] && continue
    [[ $f == /etc/sysctl.conf || $base > ${dst_conf##*/} ]] || continue
    for key in "${keys[@]}"; do
      pattern=${key//./[./]}
      if grep -Eq "^[[:space:]]*-?${pattern}[[:space:]]*=" "$f"; then
        warn "$f also sets $key and is read after ${dst_conf##*/}: its value wins at boot"
      fi
    done
  done
}
check_overrides

if ((dry_run)); then
  say "dry run: nothing was changed"
else
  say "done. Check: sysctl net.ipv4.tcp_congestion_control; tc -s qdisc show dev $iface; ss -tin (bbr, pacing_rate); h2ring check-tuning"
fi
