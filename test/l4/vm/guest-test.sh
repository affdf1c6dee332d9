#!/bin/sh
# Runs inside the IPVS VM as /host/guest-test.sh (test/l4/ipvs-vm.test.ts
# copies it to the root of the shared folder). The VM's own script has loaded
# IPVS, built the namespaces (clients c1..c4, real servers rs1/rs2 with httpd)
# and added its own services; this adds the VIP for tcpvs's service and runs
# the driver checks with node. Exit status: the checks' result.
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
mkdir -p /host/out

t0=$(cut -d' ' -f1 /proc/uptime)
node /host/test/l4/vm/ipvs-driver-check.ts /host/out
rc=$?
echo "driver checks took $(echo "$(cut -d' ' -f1 /proc/uptime) - $t0" | bc)s guest time, rc=$rc"
echo "# ipvsadm calls made by the driver:"; sed 's/^/#   /' /tmp/ipvsadm-calls.log
exit $rc
