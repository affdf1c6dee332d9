// Runs one parsed ipvsadm command against an L4Core and prints what ipvsadm
// prints. A refused operation prints ipvsadm's message for it ("Service not
// defined", "Destination already exists", ...) and returns exit code 1.
import type { Writable } from 'node:stream';
import { L4Error, serviceId, type L4Core } from '../model.ts';
import { formatConnections, formatDaemons, formatList, formatListService, formatSave } from './format.ts';
import type { CommandName, IpvsadmInvocation } from './parse.ts';

export interface CommandOutput {
  stdout: Writable;
  stderr: Writable;
}

/** ipvsadm's message (libipvs's ipvs_strerror) for an L4 refusal of a command. */
export function refusalMessage(command: CommandName, err: L4Error): string {
  switch (command) {
    case 'add-service':
      if (err.code === 'exists') return 'Service already exists';
      break;
    case 'edit-service':
    case 'delete-service':
    case 'list':
      if (err.code === 'no-service') return 'No such service';
      break;
    case 'add-server':
      if (err.code === 'no-service') return 'Service not defined';
      if (err.code === 'exists') return 'Destination already exists';
      break;
    case 'edit-server':
    case 'delete-server':
      if (err.code === 'no-service') return 'Service not defined';
      if (err.code === 'no-dest') return 'No such destination';
      break;
    case 'start-daemon':
      if (err.code === 'exists') return 'Daemon has already run';
      break;
    default:
      break;
  }
  return err.message;
}

/** Executes one command (not -R, which main.ts drives line by line); returns the exit code. */
export async function executeCommand(inv: IpvsadmInvocation, core: L4Core, out: CommandOutput): Promise<number> {
  try {
    await run(inv, core, out);
    return 0;
  } catch (err) {
    if (err instanceof L4Error) {
      out.stderr.write(refusalMessage(inv.command, err) + '\n');
      return 1;
    }
    out.stderr.write(`${(err as Error).message}\n`);
    return 1;
  }
}

async function run(inv: IpvsadmInvocation, core: L4Core, out: CommandOutput): Promise<void> {
  const service = inv.service;
  switch (inv.command) {
    case 'list': {
      if (inv.daemons) {
        out.stdout.write(formatDaemons(await core.daemons()));
        return;
      }
      if (inv.connections) {
        out.stdout.write(formatConnections(await core.connections(), inv.format));
        return;
      }
      const services = await core.list();
      if (service === null) {
        out.stdout.write(formatList(services, inv.format));
        return;
      }
      const id = serviceId(service);
      const found = services.find((s) => serviceId(s.key) === id);
      if (found === undefined) throw new L4Error('no-service', 'No such service');
      out.stdout.write(formatListService(found, inv.format));
      return;
    }
    case 'save':
      out.stdout.write(formatSave(await core.list(), inv.format));
      return;
    case 'flush':
      await core.clear();
      return;
    case 'add-service':
      await core.addService({ key: service!, scheduler: inv.scheduler, persistence: inv.persistence });
      return;
    case 'edit-service':
      await core.editService({ key: service!, scheduler: inv.scheduler, persistence: inv.persistence });
      return;
    case 'delete-service':
      await core.deleteService(service!);
      return;
    case 'add-server':
      await core.addRealServer(service!, inv.server!);
      return;
    case 'edit-server':
      await core.editRealServer(service!, inv.server!);
      return;
    case 'delete-server':
      await core.deleteRealServer(service!, inv.server!.address, inv.server!.port);
      return;
    case 'start-daemon':
      await core.startDaemon(inv.daemon!);
      return;
    case 'stop-daemon':
      await core.stopDaemon(inv.role!);
      return;
    default:
      // restore is driven by main.ts; the rest are refused while parsing
      throw new Error(`internal: command ${inv.command} cannot be executed here`);
  }
}
