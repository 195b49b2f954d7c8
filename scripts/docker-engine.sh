#!/usr/bin/env bash
# A private Docker engine for building and testing the image: Debian's
# docker.io, started without systemd, everything under one directory.
#
#   scripts/docker-engine.sh start    install docker.io if dockerd is missing
#                                     (apt-get, root), start dockerd unless
#                                     it already runs, wait until it answers,
#                                     print `export DOCKER_HOST=unix://…`
#   scripts/docker-engine.sh stop     stop it (by its pid file)
#   scripts/docker-engine.sh status   exit 0 when it answers
#   scripts/docker-engine.sh env      print the export line only
#
#   eval "$(scripts/docker-engine.sh start)"
#
# Directory: CHAPERONE_DOCKER_DIR, default
# ${CHAPERONE_CACHE_DIR:-~/.cache/chaperone}/docker, holding data/ (images,
# kept between runs), exec/, docker.sock, dockerd.pid and dockerd.log.
#
# The engine listens on its Unix socket only, never on TCP. It leaves the
# host's network alone: no iptables rules, no docker0 bridge, no IP
# forwarding; containers run with --network none or --network host.
set -euo pipefail

cache_dir="${CHAPERONE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/chaperone}"
dir="${CHAPERONE_DOCKER_DIR:-$cache_dir/docker}"
sock="$dir/docker.sock"
pidfile="$dir/dockerd.pid"
logfile="$dir/dockerd.log"

log() { echo "docker-engine: $*" >&2; }

answers() { DOCKER_HOST="unix://$sock" docker version >/dev/null 2>&1; }

running_pid() {
	local pid
	[[ -s "$pidfile" ]] || return 1
	pid="$(<"$pidfile")"
	[[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
	echo "$pid"
}

print_env() { echo "export DOCKER_HOST=unix://$sock"; }

start() {
	mkdir -p "$dir"
	# One start at a time on one directory.
	exec 9>"$dir/start.lock"
	flock 9
	if running_pid >/dev/null && answers; then
		log "dockerd already running (pid $(running_pid), $dir)"
		print_env
		return
	fi
	if [[ "$(id -u)" != 0 ]]; then
		log "dockerd needs root"
		exit 1
	fi
	if ! command -v dockerd >/dev/null 2>&1; then
		log "installing docker.io (Debian)"
		apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null
	fi
	# A Unix socket path is limited to 107 bytes.
	if ((${#sock} > 100)); then
		log "socket path too long: $sock (set CHAPERONE_DOCKER_DIR)"
		exit 1
	fi
	mkdir -p "$dir/data" "$dir/exec"
	local pid
	if pid="$(running_pid)"; then
		log "dockerd (pid $pid) does not answer; waiting for it"
	else
		rm -f "$sock"
		log "starting dockerd in $dir"
		# setsid: the engine outlives this script and its terminal.
		setsid dockerd \
			--storage-driver=overlay2 \
			--iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
			--bridge=none \
			--data-root="$dir/data" --exec-root="$dir/exec" \
			--pidfile="$pidfile" \
			-H "unix://$sock" \
			</dev/null >>"$logfile" 2>&1 9>&- &
		pid=$!
	fi
	local i
	for ((i = 0; i < 600; i++)); do
		if answers; then
			log "dockerd ready (pid $(running_pid))"
			print_env
			return
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	tail -n 20 "$logfile" >&2
	log "dockerd did not start; its log is $logfile"
	exit 1
}

stop() {
	local pid i
	if ! pid="$(running_pid)"; then
		log "dockerd not running"
		return
	fi
	log "stopping dockerd (pid $pid)"
	kill -TERM "$pid"
	for ((i = 0; i < 600; i++)); do
		kill -0 "$pid" 2>/dev/null || {
			log "dockerd stopped"
			return
		}
		sleep 0.1
	done
	log "dockerd (pid $pid) did not stop within a minute"
	exit 1
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) running_pid >/dev/null && answers ;;
env) print_env ;;
*)
	echo "usage: $0 start|stop|status|env" >&2
	exit 2
	;;
esac
