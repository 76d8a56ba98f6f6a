// `vtepd`: parse the command line, load the configuration, run the daemon in
// the foreground until SIGINT/SIGTERM. Exit codes: 0 after a clean stop, 2 for
// anything the user can fix before starting (nothing was changed), 1 otherwise.
import { parseArgs } from 'node:util';
import { joinNegativeValues } from './args.ts';
import { Daemon, StartupError } from '../daemon/daemon.ts';
import { HANDOFF_ENV } from '../daemon/upgrade.ts';
import { Channel } from '../io/channel.ts';
import { RefusedError } from '../control/verb.ts';
import { ConfigError, loadConfigFile, type Config } from '../config/config.ts';
import { configFromFlags, overridesFromFlags, type NetworkFlags } from '../config/flags.ts';
import { Logger } from '../observe/log.ts';
import { Systemd } from '../host/systemd.ts';
import { versionLine } from '../host/version.ts';
import { USAGE } from './vtepd-usage.ts';

const NETWORK_FLAGS = [
  'local',
  'tap',
  'name',
  'vni',
  'geneve-vni',
  'geneve-option',
  'gre-key',
  'gre-csum',
  'gre-seq',
  'remote',
  'group',
  'dev',
  'group-ttl',
  'allow',
  'address',
  'mtu',
  'mac',
  'port',
  'ageing',
  'max-macs',
  'accept-any-remote',
  'arp-responder',
  'arp-snoop',
  'no-learning',
  'evpn-asn',
  'evpn-peer-as',
  'evpn-neighbor',
  'evpn-router-id',
  'evpn-gobgp',
  'ttl',
  'df',
  'df-inherit',
  'udp6-zero-csum-rx',
  'gre-socket',
] as const;

class UsageError extends Error {}

interface Parsed {
  config: Config;
  verbose: boolean;
  /** Reads the config file again, with the same command-line overrides (for reload); none without --config. */
  reread?: () => Config;
}

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  socket: { type: 'string' },
  verbose: { type: 'boolean', short: 'v' },
  'no-offload': { type: 'boolean' },
  'busy-poll': { type: 'string' },
  metrics: { type: 'string' },
  user: { type: 'string' },
  'socket-group': { type: 'string' },
  'socket-mode': { type: 'string' },
  'socket-mutations': { type: 'string' },
  'log-format': { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
  local: { type: 'string' },
  tap: { type: 'string' },
  name: { type: 'string' },
  vni: { type: 'string' },
  'geneve-vni': { type: 'string' },
  'geneve-option': { type: 'string', multiple: true },
  'gre-key': { type: 'string' },
  'gre-csum': { type: 'boolean' },
  'gre-seq': { type: 'boolean' },
  remote: { type: 'string', multiple: true },
  group: { type: 'string' },
  dev: { type: 'string' },
  'group-ttl': { type: 'string' },
  allow: { type: 'string', multiple: true },
  address: { type: 'string' },
  mtu: { type: 'string' },
  mac: { type: 'string' },
  port: { type: 'string' },
  ageing: { type: 'string' },
  'max-macs': { type: 'string' },
  'accept-any-remote': { type: 'boolean' },
  'arp-responder': { type: 'boolean' },
  'arp-snoop': { type: 'boolean' },
  'no-learning': { type: 'boolean' },
  'evpn-asn': { type: 'string' },
  'evpn-peer-as': { type: 'string' },
  'evpn-neighbor': { type: 'string', multiple: true },
  'evpn-router-id': { type: 'string' },
  'evpn-gobgp': { type: 'string' },
  ttl: { type: 'string' },
  df: { type: 'boolean' },
  'df-inherit': { type: 'boolean' },
  'udp6-zero-csum-rx': { type: 'boolean' },
  'gre-socket': { type: 'string' },
} as const;

function parse(argv: string[]): Parsed | 'help' | 'version' {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    ({ values } = parseArgs({
      args: joinNegativeValues(argv, OPTIONS),
      strict: true,
      allowPositionals: false,
      options: OPTIONS,
    }));
  } catch (e) {
    throw new UsageError(
      `${(e as Error).message.split('\n')[0].replace(/\. To specify a positional argument.*$/, '')} (see vtepd --help)`,
    );
  }
  if (values.help) return 'help';
  if (values.version) return 'version';
  const verbose = values.verbose === true;
  const networkFlags = NETWORK_FLAGS.filter((f) => values[f] !== undefined);
  if (typeof values.config === 'string') {
    if (networkFlags.length > 0) {
      throw new UsageError(
        `--config and --${networkFlags[0]} do not go together: put the network in the config file, or give it ` +
          `all with flags`,
      );
    }
    const path = values.config;
    const overrides = overridesFromFlags(values as NetworkFlags);
    return { config: loadConfigFile(path, overrides), verbose, reread: () => loadConfigFile(path, overrides) };
  }
  if (networkFlags.length === 0)
    throw new UsageError(
      'give --config FILE, or one network with --local, --tap, --vni (or --geneve-vni or --gre-key) and --remote (see vtepd --help)',
    );
  return { config: configFromFlags(values as NetworkFlags), verbose };
}

export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (e) {
    if (e instanceof UsageError || e instanceof ConfigError) {
      for (const line of e.message.split('\n')) process.stderr.write(`vtepd: ${line}\n`);
      return 2;
    }
    throw e;
  }
  if (parsed === 'help' || parsed === 'version') {
    process.stdout.write((parsed === 'help' ? USAGE : versionLine('vtepd')) + '\n');
    return 0;
  }
  // --verbose is --log-level debug, as before.
  const log = new Logger({
    format: parsed.config.log.format,
    level: parsed.verbose ? 'debug' : parsed.config.log.level,
  });
  let daemon: Daemon;
  const handoff = process.env[HANDOFF_ENV];
  delete process.env[HANDOFF_ENV];
  try {
    // Started by `vtepctl upgrade`: take over from the vtepd that started this one, whose config it runs.
    daemon =
      handoff !== undefined
        ? await Daemon.takeOver(new Channel(Number(handoff)), log, parsed.reread)
        : await Daemon.start(parsed.config, log, parsed.reread);
  } catch (e) {
    if (e instanceof StartupError) {
      if (parsed.config.log.format === 'json') log.error(e.message);
      else process.stderr.write(`vtepd: ${e.message}\n`);
      return 2;
    }
    log.error(`could not start: ${(e as Error).message}`);
    return 1;
  }
  const systemd = Systemd.fromEnv(process.env, handoff !== undefined);
  if (systemd !== undefined) {
    daemon.systemd = systemd;
    const failed = systemd.ready(daemon.statusLine(), handoff !== undefined);
    if (failed !== undefined) log.warn(`systemd: could not notify ${process.env.NOTIFY_SOCKET}: ${failed.message}`);
    systemd.startWatchdog(() => daemon.statusLine());
  }
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      log.info(`${signal}: stopping`);
      systemd?.stopping();
      systemd?.stopWatchdog();
      void daemon.stop().then(() => resolve(0));
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    // Exits without undoing anything: the successor runs on what this one set up (and is systemd's main process now).
    daemon.onHandedOver = () => {
      systemd?.stopWatchdog();
      resolve(0);
    };
    process.on('SIGUSR2', () => {
      daemon.upgrade().catch(() => {}); // its outcome is logged
    });
    // Reload as `vtepctl reload` does; what it applied or why it refused is logged either way.
    process.on('SIGHUP', () => {
      try {
        daemon.reload();
      } catch (e) {
        const problems =
          e instanceof RefusedError && e.problems ? e.problems.map((p) => `\nvtepd:   ${p}`).join('') : '';
        log.error(`reload refused: ${(e as Error).message}${problems}`);
      }
    });
  });
}
