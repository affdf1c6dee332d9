// keepalived's configuration for a pair of directors: one VRRP instance that
// carries every vip address of this tcpvs, so they move together to the
// backup when the master dies and back by priority (keepalived preempts by
// default). tcpvs keeps programming its own L4 core; keepalived only moves
// the addresses, so it needs no virtual_server blocks. The operator runs
// keepalived with this file: `tcpvs keepalived -c FILE > keepalived.conf`.
import type { L4Spec, VrrpSpec } from '../config/model.ts';

/**
 * `tcpvs`: the command that runs tcpvs (node and its entry point); with an
 * admin socket in the config, keepalived tells the running tcpvs of each
 * state change through it (`tcpvs director-state`), which logs and counts it
 * and runs the config's `notify` command.
 */
export function keepalivedConfig(l4: L4Spec, source: string, tcpvs: readonly string[] = []): string {
  const vrrp: VrrpSpec | undefined = l4.vrrp;
  if (vrrp === undefined) throw new Error(`${source} has no 'vrrp' statements: nothing for keepalived to do`);
  const addresses = [...new Set(l4.vips.map((v) => v.address))];
  const lines = [
    `# keepalived.conf for tcpvs, from ${source} (tcpvs keepalived -c ${source}).`,
    '# Run it on each director: keepalived --vrrp --dont-fork -f THIS_FILE',
    '# The backup director must be able to listen on the vip addresses before it',
    '# holds them: sysctl net.ipv4.ip_nonlocal_bind=1 (net.ipv6.ip_nonlocal_bind=1).',
    'global_defs {',
    `  router_id tcpvs_${vrrp.routerId}`,
    ...(vrrp.notify === null && (l4.admin === null || tcpvs.length === 0) ? [] : ['  enable_script_security', '  script_user root']),
    '}',
    '',
    'vrrp_instance tcpvs {',
    '  state BACKUP',
    `  interface ${vrrp.interface}`,
    `  virtual_router_id ${vrrp.routerId}`,
    `  priority ${vrrp.priority}`,
    `  advert_int ${vrrp.advertMs / 1000}`,
  ];
  // VRRPv2 advertises in whole seconds; a shorter interval needs VRRPv3 (RFC 5798).
  if (vrrp.advertMs % 1000 !== 0) lines.push('  version 3');
  if (vrrp.source !== null) lines.push(`  unicast_src_ip ${vrrp.source}`);
  if (vrrp.peers.length > 0) lines.push('  unicast_peer {', ...vrrp.peers.map((p) => `    ${p}`), '  }');
  if (vrrp.auth !== null) lines.push('  authentication {', '    auth_type PASS', `    auth_pass ${vrrp.auth}`, '  }');
  lines.push('  virtual_ipaddress {');
  for (const address of addresses) {
    const bits = vrrp.prefix ?? (address.includes(':') ? 128 : 32);
    lines.push(`    ${address}/${bits} dev ${vrrp.interface}`);
  }
  lines.push('  }');
  // keepalived runs these with: "INSTANCE" "tcpvs" MASTER|BACKUP|FAULT|STOP PRIORITY
  if (l4.admin !== null && tcpvs.length > 0) lines.push(`  notify "${quote([...tcpvs, 'director-state', '--admin', l4.admin].join(' '))}"`);
  if (vrrp.notify !== null) {
    const own = quote(vrrp.notify);
    if (l4.admin !== null && tcpvs.length > 0) {
      // keepalived has one `notify` per instance: this one goes per state, with keepalived's words.
      for (const state of ['MASTER', 'BACKUP', 'FAULT']) lines.push(`  notify_${state.toLowerCase()} "${own} INSTANCE tcpvs ${state}"`);
    } else lines.push(`  notify "${own}"`);
  }
  lines.push('}', '');
  return lines.join('\n');
}

function quote(command: string): string {
  return command.replace(/["\\]/g, '\\$&');
}
