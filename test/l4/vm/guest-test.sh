#!/bin/sh
# Runs inside the IPVS VM as /host/guest-test.sh (test/l4/ipvs-vm.test.ts
# copies it to the root of the shared folder; test/l4/vm/run-ipvs-vm.sh boots
# the VM). The VM's own script has loaded IPVS, built the namespaces (clients
# c1..c4, real servers rs1/rs2 with httpd) and added its own services; this
# adds the VIP for tcpvs's service and a backup director for the kernel's
# connection sync daemon, then runs the driver checks with node. Exit status:
# the checks' result.
export PATH=/usr/local/bin:/bin
ip() { /usr/local/bin/ip "$@"; }   # iproute2, not busybox's ip

ip addr add 10.0.0.10/32 dev lo
# every ipvsadm call the driver makes is logged, to count the -R batches
cat > /tmp/ipvsadm-logged <<'SH'
#!/bin/sh
echo "$*" >> /tmp/ipvsadm-calls.log
exec /usr/local/bin/ipvsadm "$@"
SH
chmod 755 /tmp/ipvsadm-logged

# The sync daemon's backup director: network namespace bk, with its own IPVS
# table (IPVS is per namespace), one veth away from this one (the master):
# syncm0 (10.9.0.1) here, syncb0 (10.9.0.2) in bk. Its ipvsadm runs in bk.
ip netns add bk
ip link add syncm0 type veth peer name syncb0 netns bk
ip addr add 10.9.0.1/24 dev syncm0
ip link set syncm0 up
ip -n bk addr add 10.9.0.2/24 dev syncb0
ip -n bk link set syncb0 up
cat > /tmp/ipvsadm-bk <<'SH'
#!/bin/sh
echo "[bk] $*" >> /tmp/ipvsadm-calls.log
exec /usr/local/bin/ip netns exec bk /usr/local/bin/ipvsadm "$@"
SH
chmod 755 /tmp/ipvsadm-bk
mkdir -p /host/out

t0=$(cut -d' ' -f1 /proc/uptime)
node /host/test/l4/vm/ipvs-driver-check.ts /host/out
rc=$?
echo "driver checks took $(echo "$(cut -d' ' -f1 /proc/uptime) - $t0" | bc)s guest time, rc=$rc"
echo "# ipvsadm calls made by the driver:"; sed 's/^/#   /' /tmp/ipvsadm-calls.log
exit $rc
