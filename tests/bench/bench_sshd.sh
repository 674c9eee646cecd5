# A throw-away sshd for the benchmarks that compare with ssh (push_bench.sh,
# throughput.sh). Sourced after tests/interop/common.sh, whose bg, free_udp_port and
# $WORK it uses; nothing outside $WORK is configured, only /run/sshd (sshd's
# privilege-separation directory) is created if absent.
#
# start_bench_sshd: host and user keys in $WORK/ssh, sshd -D on a random loopback port,
#   chacha20-poly1305, no compression; waits until `ssh true` works. Sets SSHD_PID and
#   SSH_PORT; returns 1 when sshd is missing or does not answer.
# SSH_OPTS: the client options matching it (a string, for word splitting), without -p.
# ssh_cmd ARGS...: ssh to the throw-away sshd as the current user.

SSHD_PID=
SSH_PORT=
SSH_OPTS=
start_bench_sshd() {
  command -v /usr/sbin/sshd >/dev/null || return 1
  mkdir -p "$WORK/ssh" && chmod 700 "$WORK/ssh"
  ssh-keygen -q -t ed25519 -N '' -f "$WORK/ssh/host_key" || return 1
  ssh-keygen -q -t ed25519 -N '' -f "$WORK/ssh/user_key" || return 1
  cp "$WORK/ssh/user_key.pub" "$WORK/ssh/authorized_keys"
  SSH_PORT=$(( $(free_udp_port) ))  # a random high port; TCP is checked by sshd's bind
  SSH_OPTS="-F /dev/null -i $WORK/ssh/user_key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR -o Compression=no -c chacha20-poly1305@openssh.com"
  cat >"$WORK/ssh/sshd_config" <<CONF
ListenAddress 127.0.0.1:$SSH_PORT
HostKey $WORK/ssh/host_key
AuthorizedKeysFile $WORK/ssh/authorized_keys
PidFile none
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin yes
Ciphers chacha20-poly1305@openssh.com
Compression no
Subsystem sftp internal-sftp
CONF
  [[ -d /run/sshd ]] || mkdir -p /run/sshd
  bg sshd /usr/sbin/sshd -D -e -f "$WORK/ssh/sshd_config"
  SSHD_PID=$BG_PID
  local i
  for i in $(seq 50); do
    ssh_cmd true 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

ssh_cmd() {
  # shellcheck disable=SC2086
  ssh $SSH_OPTS -p "$SSH_PORT" "$(id -un)@127.0.0.1" "$@"
}
