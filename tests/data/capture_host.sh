#!/bin/bash
# Re-capture the host fixtures of `sorto parse` (see README.md beside this file).
# Run as root on a Linux host with strace, linux-perf and tracefs.  Every file
# written here is real tool output; nothing is edited afterwards.
set -eu
cd "$(dirname "$0")"
mkdir -p strace perf ftrace
W='ls -l / /nonexistent; cat /etc/hostname; sleep 0.05 & wait'

# strace -c summaries
strace -c -o strace/c.txt sh -c "$W" >/dev/null 2>&1 || true
strace -c -f -o strace/c_f.txt sh -c "$W" >/dev/null 2>&1 || true
strace -c -w -o strace/c_w.txt sh -c "$W" >/dev/null 2>&1 || true
strace -c -S calls -o strace/c_S_calls.txt sh -c "$W" >/dev/null 2>&1 || true
strace -c -o strace/c_noerrors.txt true
strace -c -U name,calls,time,total-time -o strace/c_U.txt sh -c "$W" >/dev/null 2>&1 || true

# strace with timestamps
strace -r -o strace/r.txt sh -c "$W" >/dev/null 2>&1 || true
strace -t -o strace/t.txt sh -c "$W" >/dev/null 2>&1 || true
strace -tt -o strace/tt.txt sh -c "$W" >/dev/null 2>&1 || true
strace -ttt -T -o strace/ttt_T.txt sh -c "$W" >/dev/null 2>&1 || true
strace -f -r -o strace/f_r.txt sh -c "$W" >/dev/null 2>&1 || true
strace -f -tt -T -o strace/f_tt_T.txt sh -c "$W" >/dev/null 2>&1 || true

# perf
perf record -q -e cpu-clock -F 2000 -o /tmp/sorto-perf.data -- dd if=/dev/zero of=/dev/null bs=4k count=100000 2>/dev/null
perf script -i /tmp/sorto-perf.data > perf/script_cpu_clock.txt 2>/dev/null
perf record -q -g -e cpu-clock -F 2000 -o /tmp/sorto-perf.data -- dd if=/dev/zero of=/dev/null bs=4k count=100000 2>/dev/null
perf script -i /tmp/sorto-perf.data > perf/script_callchain.txt 2>/dev/null
perf record -q -a -e sched:sched_switch -e sched:sched_wakeup -o /tmp/sorto-perf.data -- sh -c "$W" >/dev/null 2>&1 || true
perf script -i /tmp/sorto-perf.data > perf/script_tracepoints.txt 2>/dev/null
perf sched record -q -o /tmp/sorto-perf.data -- sh -c "$W" >/dev/null 2>&1 || true
perf sched latency -i /tmp/sorto-perf.data > perf/sched_latency.txt 2>/dev/null
perf sched timehist -i /tmp/sorto-perf.data > perf/sched_timehist.txt 2>/dev/null
perf sched timehist -w -i /tmp/sorto-perf.data > perf/sched_timehist_w.txt 2>/dev/null
rm -f /tmp/sorto-perf.data /tmp/sorto-perf.data.old

# ftrace events (the function tracers are refused on the capture host)
T=/sys/kernel/tracing
[ -e $T/trace ] || mount -t tracefs nodev $T
old_buf=$(cat $T/buffer_size_kb | cut -d' ' -f1)
ev() { # $1 = output file; trace options already set
	echo 0 > $T/events/enable
	echo > $T/trace
	for e in sched/sched_switch sched/sched_wakeup irq/irq_handler_entry irq/irq_handler_exit \
		irq/softirq_entry irq/softirq_exit; do echo 1 > $T/events/$e/enable; done
	sh -c "$W" >/dev/null 2>&1 || true
	echo 0 > $T/events/enable
	cat $T/trace > "$1"
	echo > $T/trace
}
echo 64 > $T/buffer_size_kb
ev ftrace/events.txt
echo record-tgid > $T/trace_options
ev ftrace/events_tgid.txt
echo norecord-tgid > $T/trace_options
echo noirq-info > $T/trace_options
ev ftrace/events_noirqinfo.txt
echo irq-info > $T/trace_options
echo "$old_buf" > $T/buffer_size_kb
