// What a control verb is: everything about one `vtepctl` command and its
// request on the control socket, registered in one place (as Open vSwitch's
// unixctl_command_register): its protocol name, the request's fields as a
// zod schema whose transforms give the handler parsed values (MACs as
// numbers, addresses as 16 bytes), who may run it, what the daemon does,
// and how vtepctl builds the request from its command line and prints the
// reply. Dispatch, the privilege check, vtepctl's usage and unknown-command
// message, and the reference in docs/ all come from the registry
// (registry.ts), so a verb cannot be half added.
//
// This module and the verbs import nothing heavy at run time: vtepctl loads
// them too. Not zod either: a verb's fields are a function of the field kit
// (fields.ts, with zod), called where requests are checked (requests.ts), which
// vtepctl loads only when it checks a request itself.
import type { z } from 'zod';
import type { DaemonView } from './daemon-view.ts';
import type * as FieldKit from './fields.ts';
import type { Reply, Streaming } from './protocol.ts';

/**
 * Who may run it on a socket shared with a read-only group (socket-mutations:
 * owner): `read` anyone who can connect; `change` (the forwarding state, the
 * daemon) and `traffic` (shows packets) only root and vtepd's own user.
 */
export type Access = 'read' | 'change' | 'traffic';

/** vtepctl's flags, as parseArgs gives them. */
export interface Flags {
  socket?: string;
  network?: string;
  json?: boolean;
  'no-timestamp'?: boolean;
  side?: string;
  count?: string;
  write?: string;
  dynamic?: boolean;
  static?: boolean;
  remote?: string;
  'no-flood'?: boolean;
  in?: string;
  src?: string;
  dst?: string;
  vlan?: string;
  'arp-request'?: string;
  ipv4?: string;
  ipv6?: string;
  vrf?: string;
  type?: string;
}

/** A command line as a verb sees it: the words after the verb's own, and the flags. */
export interface CliArgs {
  args: string[];
  flags: Flags;
}

export { UsageError } from './usage-error.ts';

/** A refusal of the request as asked (unknown network, impossible address...): vtepctl exits 2. */
export class RefusedError extends Error {
  constructor(
    message: string,
    readonly problems?: string[],
  ) {
    super(message);
  }
}

/** How vtepctl runs a verb whose reply is not one line of data (capture, monitor): its own client. */
export type CustomClient = (socket: string, cli: CliArgs, request: Record<string, unknown>) => Promise<number>;

export interface VerbSpec<F extends z.ZodRawShape, Out> {
  /** The request's `cmd`; more names it answers to, for older clients. */
  cmd: string;
  aliases?: readonly string[];
  /** vtepctl's words: ["fdb", "add"]; a trailing word may be left out when `optionalLast` (fdb = fdb show). */
  words: readonly string[];
  optionalLast?: boolean;
  /** What follows the words in vtepctl's usage: "MAC dst IP --network NAME". */
  usage: string;
  /** One line: what it does (vtepctl --help, the reference). */
  summary: string;
  access: Access;
  /** The request's fields besides `cmd`, made of the field kit (fields.ts and zod). */
  fields: (kit: typeof FieldKit) => F;
  /** How vtepctl names a field typed as an argument rather than a flag (`mac: 'MAC'`); others are --FIELD. */
  cliNames?: Readonly<Record<string, string>>;
  /** A check across fields: a message when the request cannot be right. */
  check?: (req: z.output<z.ZodObject<F>>) => string | undefined;
  /** The reply's data, for the reference. */
  reply: string;
  /** A request as a client writes it, without cmd: the reference shows it, and a test runs every verb with it. */
  example: Record<string, unknown>;
  /** What the daemon does. */
  handle(d: DaemonView, req: z.output<z.ZodObject<F>> & { cmd: string }): Reply<Out> | Streaming | Promise<Reply<Out>>;
  /** The request from vtepctl's command line (without cmd); a UsageError says what is wrong. */
  fromCli?(cli: CliArgs): Record<string, unknown>;
  /** How vtepctl prints the reply's data (default: nothing, or JSON with --json). */
  print?(data: Out, flags: Flags): string;
  /** A client of its own instead of one request and one reply (streams). */
  client?: CustomClient;
  /** How long vtepctl waits for the reply (default 5 s): as long as the daemon may take to give it. */
  replyTimeoutMs?: number;
}

/** A registered verb: its spec, the names a request may give it, and whether it is privileged. */
export interface Verb extends VerbSpec<z.ZodRawShape, unknown> {
  readonly names: readonly string[];
  /** Whether a read-only client is refused it. */
  readonly privileged: boolean;
}

export function defineVerb<F extends z.ZodRawShape, Out>(spec: VerbSpec<F, Out>): Verb {
  return {
    ...(spec as unknown as VerbSpec<z.ZodRawShape, unknown>),
    names: [spec.cmd, ...(spec.aliases ?? [])],
    privileged: spec.access !== 'read',
  };
}
