#!/bin/bash
# test/l4/vm/run-ipvs-vm.sh - boot a stock Debian 12 kernel in qemu and exercise the REAL kernel
# IPVS (ip_vs modules + Debian's ipvsadm, a NAT/masq virtual service with persistence, real TCP
# traffic through it between network namespaces, and the host's Node.js driving ipvsadm).
# test/l4/ipvs-vm.test.ts runs it with SHARE= a copy of lib/l4 and test/l4/vm; see
# test/l4/vm/README.md for what the VM has, the knobs and the pitfalls.
#
# Host prerequisites (Debian 12 bookworm, amd64, as root; .ci/ipvs-vm.sh --install-only does this):
#   apt-get update
#   apt-get install -y --no-install-recommends qemu-system-x86 busybox-static ipvsadm iproute2 cpio time
#   (optional: zstd - faster initramfs packing; falls back to gzip)
#   (for WITH_NODE=1: a node binary, $NODE or the first on PATH; it is copied into the VM with its libs)
# The kernel is NOT installed: `apt-get download linux-image-<abi>-<flavor>` + `dpkg -x`
# into $WORK (done automatically below, cached after the first run), so apt's package lists
# must be there (apt-get update).
#
# Knobs (env): WORK=/tmp/ipvs-vm NODE=/path/to/node  FLAVOR=cloud|amd64  ACCEL=auto|kvm|tcg  WITH_NODE=1|0
#              MEM=1024 (MiB)  SMP=1  TIMEOUT=600 (s)  COMP="zstd -q -3 -T0"|"gzip -1"
#              SHARE=/some/dir : 9p-share it read-write at /host in the VM and, after the built-in
#                checks, run /host/guest-test.sh there (a hook for project tests). 9p needs the
#                generic kernel (the cloud kernel has no CONFIG_NET_9P), so SHARE implies FLAVOR=amd64.
# Exit status 0 only if the in-VM test printed "IPVS-TEST: PASS".
set -euo pipefail
WORK=${WORK:-/tmp/ipvs-vm}
NODE=${NODE:-$(command -v node || true)}
SHARE=${SHARE:-}
FLAVOR=${FLAVOR:-$([ -n "$SHARE" ] && echo amd64 || echo cloud)}
ACCEL=${ACCEL:-auto}
WITH_NODE=${WITH_NODE:-1}
MEM=${MEM:-1024}
SMP=${SMP:-1}
TIMEOUT=${TIMEOUT:-600}
T0=${EPOCHREALTIME/./}
el() { local d=$(( ${EPOCHREALTIME/./} - T0 )); printf '%d.%03d' $((d / 1000000)) $((d / 1000 % 1000)); }
mkdir -p "$WORK/debs"
cd "$WORK"
log() { printf '[host %7ss] %s\n' "$(el)" "$*"; }

# ---- 1. kernel: Debian's own package, unpacked (not installed) ------------------------------
meta=linux-image-$FLAVOR-amd64; [ "$FLAVOR" = amd64 ] && meta=linux-image-amd64
kpkg=$(apt-cache depends "$meta" | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
KVER=${kpkg#linux-image-}
KDIR=$WORK/kernel-$KVER
if [ ! -f "$KDIR/boot/vmlinuz-$KVER" ]; then
  log "downloading $kpkg"
  (cd debs && apt-get download "$kpkg" 2>&1 | grep -v 'unsandboxed' || true)
  rm -rf "$KDIR.tmp" && dpkg -x debs/"${kpkg}"_*_amd64.deb "$KDIR.tmp" && mv "$KDIR.tmp" "$KDIR"
  busybox depmod -b "$KDIR" "$KVER"          # dpkg -x does not run depmod
fi
log "kernel $KVER"

# ---- 2. initramfs: busybox + ipvsadm + iproute2 (+ node) with their libs + needed .ko ---------
ROOT=$WORK/initramfs-root
rm -rf "$ROOT"; mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,run,tmp,etc,srv/rs1,srv/rs2,opt}
mkdir -p "$ROOT/var"; ln -s ../run "$ROOT/var/run"
cp /bin/busybox "$ROOT/bin/busybox"
ln -s /bin/busybox "$ROOT/sbin/modprobe"     # kernel's request_module() runs /sbin/modprobe
for a in $(busybox --list); do [ -e "$ROOT/bin/$a" ] || ln -s busybox "$ROOT/bin/$a"; done
copy_bin() {   # copy a dynamically linked binary to /usr/local/bin plus every lib ldd names
  local src=$1 dst=$ROOT/usr/local/bin/$(basename "$1")
  install -D -m755 "$(readlink -f "$src")" "$dst"
  ldd "$src" | grep -oE '/[^ ]+\.so[^ ]*' | while read -r lib; do
    mkdir -p "$ROOT$(dirname "$lib")"; cp -Ln "$lib" "$ROOT$lib"; done
}
copy_bin /usr/sbin/ipvsadm
copy_bin /usr/sbin/ip           # iproute2: busybox ip has no 'netns'
if [ "$WITH_NODE" = 1 ] && [ -n "$NODE" ]; then copy_bin "$NODE"; fi
echo "root:x:0:0:root:/:/bin/sh" > "$ROOT/etc/passwd"
printf 'tcp 6 TCP\nudp 17 UDP\n' > "$ROOT/etc/protocols"
echo rs1 > "$ROOT/srv/rs1/index.html"; echo rs2 > "$ROOT/srv/rs2/index.html"

MD=$KDIR/lib/modules/$KVER
# all IPVS schedulers/helpers (the kernel auto-loads e.g. ip_vs_lblc on `ipvsadm -s lblc` via
# /sbin/modprobe), veth for the test topology, crc32c_generic (=m in the generic kernel; without
# it libcrc32c, hence ip_vs, fails to load), and 9p when sharing a host folder
MODS="$(ls "$MD/kernel/net/netfilter/ipvs" | sed 's/\.ko$//') veth crc32c_generic"
[ -n "$SHARE" ] && MODS="$MODS virtio_pci 9pnet_virtio 9p"
want=$(for m in $MODS; do grep -E "(^|/)$m\.ko:" "$MD/modules.dep" | tr -d ':' || true; done | tr ' ' '\n' | sort -u)
for f in $want; do install -D -m644 "$MD/$f" "$ROOT/lib/modules/$KVER/$f"; done
cp "$MD"/modules.builtin* "$MD"/modules.order "$ROOT/lib/modules/$KVER/"
busybox depmod -b "$ROOT" "$KVER"

cat > "$ROOT/opt/node-test.js" <<'EOF'
// Runs inside the VM: Node drives the real kernel IPVS through ipvsadm (no netlink binding in core Node)
const { execFileSync } = require('child_process');
const http = require('http');
const sh = (...a) => execFileSync('ipvsadm', a, { encoding: 'utf8' });
console.log('node', process.version, 'kernel', require('os').release());
sh('-A', '-t', '10.0.0.3:80', '-s', 'rr');                       // add a service from Node
sh('-a', '-t', '10.0.0.3:80', '-r', '10.1.1.2:80', '-m');
sh('-a', '-t', '10.0.0.3:80', '-r', '10.1.2.2:80', '-m');
const rules = sh('-S', '-n');
console.log('NODE saw rules:\n' + rules.trim());
if (!/-A -t 10\.0\.0\.3:80 -s rr/.test(rules)) { console.log('NODE FAIL'); process.exit(1); }
const get = () => new Promise((res, rej) => http.get('http://10.0.0.3/', { agent: false }, r => {
  let b = ''; r.on('data', d => b += d); r.on('end', () => res(b.trim())); }).on('error', rej));
(async () => { const seen = []; for (let i = 0; i < 4; i++) seen.push(await get());
  console.log('NODE rr via VIP 10.0.0.3 (local client):', seen.join(' '));
  console.log(new Set(seen).size === 2 ? 'NODE OK' : 'NODE FAIL'); })().catch(e => { console.log('NODE FAIL', e.message); });
EOF

cat > "$ROOT/init" <<'EOF'
#!/bin/sh
export PATH=/usr/local/bin:/bin
# Debian's busybox-static sh prefers its own applets over $PATH: force iproute2 (needed for netns)
ip() { /usr/local/bin/ip "$@"; }
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev; mount -t tmpfs run /run
mkdir -p /run/netns
echo "@@ /init reached, guest uptime $(cut -d' ' -f1 /proc/uptime)s, kernel $(uname -r)"
FAIL=0; chk() { if eval "$2"; then echo "CHECK ok:   $1"; else echo "CHECK FAIL: $1"; FAIL=1; fi; }
x() { echo "# $*"; "$@"; }

echo "=== 1. load IPVS modules"
modprobe -q crc32c_generic 2>/dev/null   # only a module in the generic kernel
for m in ip_vs ip_vs_rr ip_vs_wlc ip_vs_sh veth; do modprobe $m || FAIL=1; done
lsmod | grep -E '^(ip_vs|nf_conntrack|nf_defrag|libcrc32c|veth)' | awk '{print "  lsmod:", $1, $2}'
head -1 /proc/net/ip_vs

echo "=== 2. topology: director = root ns; clients c1..c4 and real servers rs1, rs2 in netns"
sysctl -qw net.ipv4.ip_forward=1
ip link set lo up; ip addr add 10.0.0.1/32 dev lo; ip addr add 10.0.0.2/32 dev lo; ip addr add 10.0.0.3/32 dev lo
for i in 1 2; do
  ip netns add rs$i; ip link add vr$i type veth peer name eth0 netns rs$i
  ip addr add 10.1.$i.1/24 dev vr$i; ip link set vr$i up
  ip -n rs$i addr add 10.1.$i.2/24 dev eth0; ip -n rs$i link set eth0 up; ip -n rs$i link set lo up
  ip -n rs$i route add default via 10.1.$i.1
  ip netns exec rs$i httpd -p 80 -h /srv/rs$i      # busybox httpd, answers "rs$i"
done
for i in 1 2 3 4; do
  ip netns add c$i; ip link add vc$i type veth peer name eth0 netns c$i
  ip addr add 192.168.$i.1/24 dev vc$i; ip link set vc$i up
  ip -n c$i addr add 192.168.$i.2/24 dev eth0; ip -n c$i link set eth0 up; ip -n c$i link set lo up
  ip -n c$i route add default via 192.168.$i.1
done

echo "=== 3. ipvsadm: persistent wlc service + non-persistent rr service (masquerading)"
x ipvsadm -A -t 10.0.0.1:80 -s wlc -p 300
x ipvsadm -a -t 10.0.0.1:80 -r 10.1.1.2:80 -m -w 1
x ipvsadm -a -t 10.0.0.1:80 -r 10.1.2.2:80 -m -w 1
x ipvsadm -A -t 10.0.0.2:80 -s rr
x ipvsadm -a -t 10.0.0.2:80 -r 10.1.1.2:80 -m
x ipvsadm -a -t 10.0.0.2:80 -r 10.1.2.2:80 -m

echo "=== 4. real TCP traffic through IPVS"
# note: busybox 1.35 wget segfaults with -T on connect errors, so use timeout(1) instead
get() { ip netns exec $1 timeout 5 wget -q -O - http://$2/ 2>&1; }
for i in 1 2 3 4; do r=""; for k in 1 2 3 4 5; do r="$r $(get c$i 10.0.0.1)"; done; echo "c$i -> VIP 10.0.0.1 (wlc -p 300):$r"; eval R$i=\"$r\"; done
r=""; for k in 1 2 3 4 5 6; do r="$r $(get c1 10.0.0.2)"; done; echo "c1 -> VIP 10.0.0.2 (rr, no persistence):$r"; RR="$r"
nuniq() { echo $1 | tr " " "\n" | sort -u | wc -l; }
chk "persistence: each client always hits one real server" \
  '[ $(nuniq "$R1") = 1 ] && [ $(nuniq "$R2") = 1 ] && [ $(nuniq "$R3") = 1 ] && [ $(nuniq "$R4") = 1 ]'
chk "distribution: the 4 clients are spread over rs1 and rs2" \
  'echo "$R1 $R2 $R3 $R4" | grep -q rs1 && echo "$R1 $R2 $R3 $R4" | grep -q rs2'
chk "rr without persistence alternates" '[ "$RR" = " rs1 rs2 rs1 rs2 rs1 rs2" ] || [ "$RR" = " rs2 rs1 rs2 rs1 rs2 rs1" ]'

echo "=== 5. ipvsadm listings"
x ipvsadm -Ln --persistent-conn
x ipvsadm -Ln --stats
x ipvsadm -Lnc
x ipvsadm -S -n
chk "persistence templates (client port 0) in conn table" 'ipvsadm -Lnc | grep -qE "192\.168\.[0-9]\.2:0 +10\.0\.0\.1:80"'
chk "ipvsadm -S shows -p 300" 'ipvsadm -S -n | grep -q -- "-A -t 10.0.0.1:80 -s wlc -p 300"'

if [ -x /usr/local/bin/node ]; then
  echo "=== 6. host Node.js inside the VM"
  t=$(cut -d' ' -f1 /proc/uptime); node /opt/node-test.js > /tmp/node.out 2>&1; cat /tmp/node.out
  echo "node test took $(echo "$(cut -d' ' -f1 /proc/uptime) - $t" | bc)s guest time"
  chk "node drove ipvsadm and got traffic through IPVS" 'grep -q "NODE OK" /tmp/node.out'
fi

if modprobe -q 9pnet_virtio 2>/dev/null && modprobe -q 9p 2>/dev/null; then
  echo "=== 6b. 9p share from the host"
  modprobe virtio_pci; mkdir -p /host
  if mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 host0 /host; then
    echo "mounted host0 on /host: $(ls /host | tr '\n' ' ')"
    if [ -f /host/guest-test.sh ]; then
      t=$(cut -d' ' -f1 /proc/uptime); sh /host/guest-test.sh; rc=$?
      echo "guest-test.sh rc=$rc, took $(echo "$(cut -d' ' -f1 /proc/uptime) - $t" | bc)s guest time"
      chk "hook /host/guest-test.sh succeeded" '[ $rc = 0 ]'
    fi
    sync; umount /host
  else FAIL=1; fi
fi

echo "=== 7. resources"
free -m | head -2; echo "guest uptime at end: $(cut -d' ' -f1 /proc/uptime)s"
[ $FAIL = 0 ] && echo "IPVS-TEST: PASS" || echo "IPVS-TEST: FAIL"
sync; poweroff -f
EOF
chmod +x "$ROOT/init"
# zstd (if installed) unpacks ~2x faster than gzip in the TCG guest; both are =y in Debian kernels
COMP=${COMP:-$(command -v zstd >/dev/null && echo "zstd -q -3 -T0" || echo "gzip -1")}
(cd "$ROOT" && find . | cpio -o -H newc --quiet | $COMP) > "$WORK/initrd.img"
log "initramfs $(du -h "$WORK/initrd.img" | cut -f1) (${COMP%% *}; unpacked $(du -sh "$ROOT" | cut -f1))"

# ---- 3. accelerator ----------------------------------------------------------------------------
if [ "$ACCEL" = auto ]; then
  # If /dev/kvm comes from kvm_pvm (Pagetable-based VM, nested virt without VMX), a stock Debian
  # kernel is run by PVM's instruction emulator: minutes to reach mm init, then "KVM internal
  # error ... emulation failure" (lock cmpxchg16b). PVM needs PVM-enlightened guest kernels.
  # So use KVM only when it is real VMX/SVM-backed KVM; otherwise TCG (~20 s per full run).
  if [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ] && grep -qE 'vmx|svm' /proc/cpuinfo; then ACCEL=kvm; else ACCEL=tcg; fi
fi
if [ "$ACCEL" = kvm ] && [ -d /sys/module/kvm_pvm ]; then
  log "WARNING: /dev/kvm is PVM (kvm_pvm): stock kernels crawl in emulation and die with 'KVM internal error'"
fi
if [ "$ACCEL" = kvm ]; then QACCEL=(-accel kvm -cpu host); else QACCEL=(-accel tcg,thread=multi -cpu max); fi
log "accelerator: $ACCEL"

# ---- 4. boot ----------------------------------------------------------------------------------
CONSOLE_LOG=$WORK/console.log
log "starting qemu (-m $MEM -smp $SMP)"
set +e
/usr/bin/time -f '%e %M' -o "$WORK/qemu.time" timeout "$TIMEOUT" \
  qemu-system-x86_64 "${QACCEL[@]}" -m "$MEM" -smp "$SMP" -display none -monitor none \
    -serial stdio -no-reboot -net none \
    ${SHARE:+-virtfs local,path=$SHARE,mount_tag=host0,security_model=none,multidevs=remap} \
    -kernel "$KDIR/boot/vmlinuz-$KVER" -initrd "$WORK/initrd.img" \
    -append "console=ttyS0 quiet panic=-1" </dev/null 2>&1 |
  while IFS= read -r line; do
    line=${line//$'\r'/}
    printf '[host %7ss] %s\n' "$(el)" "$line"
  done | tee "$CONSOLE_LOG"
set -e
read -r qwall qrss < <(tail -1 "$WORK/qemu.time") || true
log "qemu exited: wall ${qwall}s, qemu max RSS $((qrss / 1024)) MiB"
grep -q 'IPVS-TEST: PASS' "$CONSOLE_LOG"
